"""Retention: what goes and when, the purge inside the nightly's transaction, and audit pruning."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from flows import audit
from flows.retention import RETENTION_ACTION, RetentionStep
from flows.settings import Settings
from flows.store import FlagStore, RunRecord
from flows.store_schema import audit_log, meta
from models.flag_records import FLAG_COLUMNS, REASON_COLUMNS
from models.retention import purge_plan
from review.sample import fill_sample_store

pytestmark = pytest.mark.code

runner = CliRunner()
LAST = date(2025, 3, 3)
NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


def test_purge_plan_keeps_the_window_counted_from_the_newest_run() -> None:
    weeks = [LAST - timedelta(weeks=k) for k in range(20)]
    runs = pl.DataFrame({"run_id": [f"r{w}" for w in weeks], "as_of": weeks})
    flags = pl.DataFrame({"flag_id": [f"f{w}" for w in weeks], "as_of": weeks})
    reviews = pl.DataFrame(
        {
            "review_id": [1, 2, 3, 4],
            "flag_id": [f"f{weeks[19]}", f"f{weeks[0]}", "gone-old", "gone-new"],
            "decided_at": [
                "2025-03-01T00:00:00+00:00",
                "2025-03-01T00:00:00+00:00",
                (NOW - timedelta(weeks=14)).isoformat(),
                (NOW - timedelta(weeks=2)).isoformat(),
            ],
        }
    )
    plan = purge_plan(runs, flags, reviews, weeks=13, audit_weeks=26, now=NOW)
    assert plan.flags_before == LAST - timedelta(weeks=13)
    # Weeks 14..19 back are older than the cutoff; week 13 back is exactly on it and stays.
    assert plan.flag_ids == sorted(f"f{w}" for w in weeks[14:])
    assert plan.run_ids == [f"r{w}" for w in weeks[14:]]
    # The decision on an old flag goes with it, the one on a flag a re-run replaced once it is old.
    assert plan.review_ids == [1, 3]
    assert plan.audit_before == (NOW - timedelta(weeks=26)).isoformat()


def test_purge_plan_of_an_empty_store_removes_nothing() -> None:
    empty = pl.DataFrame(schema={"run_id": pl.String, "as_of": pl.Date})
    plan = purge_plan(
        empty,
        pl.DataFrame(schema={"flag_id": pl.String, "as_of": pl.Date}),
        pl.DataFrame(schema={"review_id": pl.Int64, "flag_id": pl.String, "decided_at": pl.String}),
        weeks=52,
        audit_weeks=52,
        now=NOW,
    )
    assert plan.empty and plan.flags_before is None


@pytest.fixture
def sample(tmp_path: Path) -> tuple[FlagStore, Settings]:
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    fill_sample_store(store, runs=20, last_week=LAST)
    old_flag = store.run_flags(f"sample-{(LAST - timedelta(weeks=19)).isoformat()}")["flag_id"][0]
    store.add_review(old_flag, "not_a_concern", "Talked; all fine.", "ana")
    return store, Settings(home=tmp_path, retention_weeks=13)


def empty_run(as_of: date) -> tuple[RunRecord, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A night without flags (enough to carry the purge)."""
    record = RunRecord(f"night-{as_of}", as_of, "m", "3", "0" * 64, as_of, 60, {})
    return (
        record,
        pl.DataFrame(schema=dict.fromkeys(FLAG_COLUMNS, pl.String)),
        pl.DataFrame(schema=dict.fromkeys(REASON_COLUMNS, pl.String)),
        pl.DataFrame(
            schema={
                "team_id": pl.String,
                "people": pl.Int64,
                "flagged": pl.Int64,
                "leading_families": pl.String,
            }
        ),
    )


def counts(store: FlagStore) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("runs", "flags", "reasons", "reviews", "team_runs")
        }


def test_the_nightly_write_purges_old_rows_in_its_own_transaction(sample) -> None:
    store, settings = sample
    newest = LAST + timedelta(weeks=1)
    cutoff = newest - timedelta(weeks=13)
    before = counts(store)
    step = RetentionStep(settings)
    store.write_run(*empty_run(newest), then=step)
    after = counts(store)
    runs = store.list_runs()
    old_runs = runs.filter(pl.col("as_of").cast(pl.Date) < cutoff)["run_id"].to_list()
    assert len(old_runs) == 7  # weeks 13..19 before LAST
    assert all(store.run_flags(r).is_empty() for r in old_runs)
    assert all(store.run_teams(r).is_empty() for r in old_runs)
    assert all(store.run_reasons(r).is_empty() for r in old_runs)
    assert after["runs"] == before["runs"] + 1  # a run's own totals stay: they name nobody
    assert after["reviews"] == before["reviews"] - 1
    assert step.counts is not None and step.counts.flags == before["flags"] - after["flags"] > 0
    entries = store.audit_entries()
    purge = entries.filter(pl.col("action") == RETENTION_ACTION)
    assert purge.height == 1 and f"flags={step.counts.flags} " in purge["detail"][0]
    assert audit.verify(store.engine).problem is None


def test_a_failing_purge_leaves_the_store_as_it_was(sample) -> None:
    store, _ = sample
    before = counts(store)

    def broken(connection: sa.Connection) -> None:
        connection.execute(sa.text("DELETE FROM flags"))
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.write_run(*empty_run(LAST + timedelta(weeks=1)), then=broken)
    assert counts(store) == before


def write_entries(store: FlagStore, monkeypatch: pytest.MonkeyPatch, moments: list[datetime]) -> None:
    for n, moment in enumerate(moments):
        monkeypatch.setattr(audit, "utc_now", lambda moment=moment: moment.isoformat())
        store.audit("ana", "view_flag", f"flag:f{n}", f"pseudonym:p{n:024d}")
    monkeypatch.undo()


@pytest.fixture
def pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FlagStore, Path]:
    store = FlagStore(f"sqlite:///{tmp_path / 'flags.db'}")
    old = [NOW - timedelta(weeks=60, hours=n) for n in range(10, 0, -1)]
    new = [NOW - timedelta(weeks=2, hours=n) for n in range(5, 0, -1)]
    write_entries(store, monkeypatch, old + new)
    with store.engine.begin() as connection:
        removed = audit.prune(connection, (NOW - timedelta(weeks=52)).isoformat(), "nightly")
    assert removed == 10
    return store, tmp_path


def test_pruning_keeps_the_chain_verifiable(pruned) -> None:
    store, home = pruned
    check = audit.verify(store.engine)
    assert check.problem is None and check.pruned_through == 10
    entries = store.audit_entries()
    assert entries["entry_id"].to_list() == list(range(11, 17))
    assert entries["action"][-1] == audit.PRUNED and "entries=10" in entries["detail"][-1]
    result = runner.invoke(app, ["audit", "verify", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "6 entries, after entries 1-10 pruned by retention" in result.output


def test_pruning_again_moves_the_start_and_still_verifies(pruned) -> None:
    store, _ = pruned
    with store.engine.begin() as connection:
        # Entries 11-15 are older; the first pruning's own entry (16) was written today and stays.
        assert audit.prune(connection, (NOW + timedelta(weeks=1)).isoformat(), "cli") == 5
    check = audit.verify(store.engine)
    assert check.problem is None and check.entries == 2 and check.pruned_through == 15


def sql(store: FlagStore, *statements: str) -> None:
    with store.engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))


def test_removing_the_first_kept_entry_is_found(pruned) -> None:
    store, _ = pruned
    sql(store, "DELETE FROM audit_log WHERE entry_id = 11")
    problem = audit.verify(store.engine).problem
    assert problem and "entry 12 does not follow entry 10 (the last one pruned by retention)" in problem


def test_moving_the_start_by_hand_is_found(pruned) -> None:
    store, _ = pruned
    # Remove one more entry and make the recorded start fit it: the pruning entry disagrees.
    with store.engine.connect() as connection:
        digest = connection.execute(
            sa.select(audit_log.c.entry_hash).where(audit_log.c.entry_id == 11)
        ).scalar()
    sql(
        store,
        "DELETE FROM audit_log WHERE entry_id = 11",
        f"UPDATE ewarn_meta SET value = '11 {digest}' WHERE key = '{audit.BASE_KEY}'",
    )
    problem = audit.verify(store.engine).problem
    assert problem and "no pruning entry in the chain records that start" in problem


def test_dropping_the_recorded_start_is_found(pruned) -> None:
    store, _ = pruned
    with store.engine.begin() as connection:
        connection.execute(sa.delete(meta).where(meta.c.key == audit.BASE_KEY))
    problem = audit.verify(store.engine).problem
    assert problem and "does not follow the start" in problem


def test_purge_dry_run_counts_and_purge_removes(sample) -> None:
    store, settings = sample
    home = str(settings.home)
    before = counts(store)
    env = {"EWARN_RETENTION_WEEKS": "13"}
    cutoff = LAST - timedelta(weeks=13)
    old = [r for r, w in store.list_runs().select("run_id", "as_of").iter_rows() if w < cutoff]
    expected = sum(store.run_flags(r).height for r in old)
    dry = runner.invoke(app, ["purge", "--dry-run", "--home", home], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"Would remove {expected} flags" in dry.output and "1 decisions and notes" in dry.output
    assert "Nothing was removed" in dry.output
    assert counts(store) == before
    done = runner.invoke(app, ["purge", "--home", home], env=env)
    assert done.exit_code == 0, done.output
    assert f"Removed {expected} flags" in done.output
    assert counts(store)["flags"] < before["flags"]
    assert runner.invoke(app, ["audit", "verify", "--home", home]).exit_code == 0


def test_an_audit_retention_under_six_months_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["purge", "--dry-run", "--home", str(tmp_path)], env={"EWARN_AUDIT_RETENTION_WEEKS": "10"}
    )
    assert result.exit_code == 2
    assert "EWARN_AUDIT_RETENTION_WEEKS" in result.output and "26" in result.output
    assert "Traceback" not in result.output
