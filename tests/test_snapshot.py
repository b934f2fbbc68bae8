"""A one-row-per-person HR snapshot (shaped like the public IBM attrition table) trains and scores.

The IBM table is not available offline, so a synthetic one of the same shape stands in: an
employee number, an Attrition Yes/No column, a department, a gender and a few numeric columns
that drive attrition. It goes through `ewarn import table` with a mapping, `ewarn pseudonymise`,
a manifest declaring the end of observation, `ewarn train --split person --horizon 4` and
`ewarn nightly`.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from flows.retrain import training_plan
from flows.settings import Settings
from flows.store import FlagStore, default_url
from models.promotion import decide

pytestmark = pytest.mark.integration

runner = CliRunner()
KEY = "a-test-key-that-is-long-enough"
PEOPLE = 600
MAPPING = """
person = "EmployeeNumber"

[signals]
date = 2024-06-03
metrics = ["JobSatisfaction", "EnvironmentSatisfaction", "WorkLifeBalance", "MonthlyIncome", "YearsAtCompany"]

[events]
# The table says who left, not when: every leaver is dated three weeks after the snapshot.
date = 2024-06-24
event = "Attrition"
skip = ["No"]

[events.values]
Yes = "resigned"

[people]
team = "Department"
audit = ["Gender"]
"""


def ibm_like_snapshot(people: int, seed: int = 0) -> pl.DataFrame:
    """One row per employee; attrition follows satisfaction, income and tenure (about 15%)."""
    rng = np.random.default_rng(seed)
    job, environment, balance = (rng.integers(1, 5, people) for _ in range(3))
    income = rng.lognormal(8.6, 0.45, people).round(0)
    years = rng.integers(0, 25, people)
    logit = (
        -1.9
        - 0.45 * (job - 2.5)
        - 0.35 * (environment - 2.5)
        - 0.3 * (balance - 2.5)
        - 0.6 * (np.log(income) - 8.6) / 0.45
        - 0.05 * (years - 7)
    )
    left = rng.random(people) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            "Age": rng.integers(20, 60, people),
            "Attrition": np.where(left, "Yes", "No"),
            "Department": rng.choice(
                ["Sales", "Research & Development", "Human Resources"], people, p=[0.3, 0.6, 0.1]
            ),
            "EmployeeNumber": [str(1001 + i) for i in range(people)],
            "EnvironmentSatisfaction": environment,
            "Gender": rng.choice(["Female", "Male"], people),
            "JobSatisfaction": job,
            "MonthlyIncome": income,
            "WorkLifeBalance": balance,
            "YearsAtCompany": years,
        }
    )


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("snapshot")
    export, mapping, raw, landing = root / "ibm.csv", root / "ibm.toml", root / "raw", root / "landing"
    ibm_like_snapshot(PEOPLE).write_csv(export)
    mapping.write_text(MAPPING)
    done = runner.invoke(app, ["import", "table", str(export), "--out", str(raw), "--mapping", str(mapping)])
    assert done.exit_code == 0, done.output
    # Observed until the Sunday four weeks after the snapshot week: the whole horizon is seen.
    (raw / "manifest.toml").write_text("observed_until = 2024-07-07\n")
    done = runner.invoke(app, ["pseudonymise", str(raw), str(landing)], env={"EWARN_PSEUDONYM_KEY": KEY})
    assert done.exit_code == 0, done.output
    return {"raw": raw, "landing": landing, "home": root / "home"}


def label_counts(landing: Path, tmp_path: Path) -> dict[object, int]:
    out = tmp_path / "features.parquet"
    done = runner.invoke(
        app, ["features", "--data", str(landing), "--out", str(out), "--labels", "--horizon", "4"]
    )
    assert done.exit_code == 0, done.output
    return dict(pl.read_parquet(out)["label"].value_counts().iter_rows())


def test_the_manifest_is_copied_and_decides_which_labels_are_known(snapshot, tmp_path: Path) -> None:
    landing = snapshot["landing"]
    assert (landing / "manifest.toml").read_text() == "observed_until = 2024-07-07\n"
    counts = label_counts(landing, tmp_path)
    assert None not in counts and counts[1] > 0 and counts[0] > counts[1]
    # Without it the data ends with the last event, three weeks after the snapshot: every label
    # of a four-week horizon is unknown.
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in landing.glob("*.parquet"):
        (bare / path.name).write_bytes(path.read_bytes())
    assert label_counts(bare, tmp_path) == {None: PEOPLE}


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_api")
def test_a_snapshot_trains_with_the_person_split_and_the_nightly_scores_it(snapshot) -> None:
    landing, home = snapshot["landing"], snapshot["home"]
    trained = runner.invoke(
        app, ["train", "--data", str(landing), "--home", str(home), "--split", "person", "--horizon", "4"]
    )
    assert trained.exit_code == 0, trained.output
    assert "on 5 person folds, 4 weeks ahead" in trained.output
    assert "as champion" in trained.output
    # The figures the back-test printed, for the record (`pytest -s` shows them).
    print(trained.output)
    auc = re.search(r"roc_auc\s*│\s*([\d.]+)", trained.output)
    assert auc and float(auc.group(1)) > 0.6

    scored = runner.invoke(app, ["nightly", "--data", str(landing), "--home", str(home)])
    assert scored.exit_code == 0, scored.output
    assert f"among {PEOPLE} people" in scored.output
    store = FlagStore(default_url(home))
    try:
        runs = store.list_runs()
        assert runs["as_of"].to_list() == [date(2024, 6, 3)]
        flags = store.run_flags(runs["run_id"][0])
        # Scores are a risk over the champion's horizon, whatever the settings say.
        details = store.run()["details"]
        assert details["settings"]["horizon_weeks"] == 4 and details["model"]["split"] == "person"
    finally:
        store.dispose()
    assert flags.height > 0
    raw_ids = set(pl.read_parquet(snapshot["raw"] / "people.parquet")["person_id"])
    assert not raw_ids & set(flags["person_id"])
    listed = runner.invoke(app, ["flags", "--home", str(home), "--format", "csv"])
    assert listed.exit_code == 0, listed.output
    assert not any(raw in listed.output.split() for raw in raw_ids)


# --------------------------------------------------------------------------------------------------
# Keeping the champion's horizon and split


def test_a_retraining_keeps_the_champions_horizon_and_split_unless_told() -> None:
    settings = Settings()
    champion = {"split": "person", "folds": "3", "horizon_weeks": "4"}
    kept = training_plan(champion, settings, split=None, folds=None, horizon=None, cutoff=None)
    assert kept == ("person", 3, 4)
    told = training_plan(champion, settings, split="time", folds=None, horizon=12, cutoff=None)
    assert told == ("time", 3, 12)
    assert training_plan({}, settings, split=None, folds=None, horizon=None, cutoff=None) == ("time", 5, 12)
    with pytest.raises(ValueError, match="cutoff"):
        training_plan(champion, settings, split=None, folds=None, horizon=None, cutoff=date(2024, 1, 1))


def test_a_champion_for_another_horizon_is_not_compared_and_says_why() -> None:
    decision = decide(
        0.5, None, champion_exists=True, not_comparable="it warns 4 weeks ahead and this model 12"
    )
    assert decision.alias == "challenger"
    assert "it warns 4 weeks ahead" in decision.reason and "--promote" in decision.reason


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--split", "rows"], "--split must be 'time' or 'person'"),
        (["--split", "person", "--cutoff", "2024-06-03"], "use --folds instead"),
    ],
)
def test_train_refuses_a_split_it_cannot_run(arguments: list[str], said: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--data", str(tmp_path), "--home", str(tmp_path / "home"), *arguments]
    )
    assert result.exit_code == 2 and said in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------------------
# Validating the manifest


def test_a_bad_manifest_date_fails_validation_naming_the_file(snapshot, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for path in snapshot["landing"].glob("*.parquet"):
        (landing / path.name).write_bytes(path.read_bytes())
    (landing / "manifest.toml").write_text('observed_until = "07-07-2024"\n')
    result = runner.invoke(app, ["validate", str(landing)])
    assert result.exit_code == 2
    assert 'manifest.toml, column "observed_until"' in result.output and "YYYY-MM-DD" in result.output
    # Events after the declared end contradict it.
    (landing / "manifest.toml").write_text("observed_until = 2024-06-16\n")
    result = runner.invoke(app, ["validate", str(landing)])
    assert result.exit_code == 2
    assert re.search(
        r'events.parquet, column "date" \(\d+ rows\): dated after observed_until 2024-06-16', result.output
    )
    (landing / "manifest.toml").write_text("observed_until = 2024-07-07\n")
    result = runner.invoke(app, ["validate", str(landing)])
    assert result.exit_code == 0 and "manifest.toml: everybody observed until 2024-07-07" in result.output
