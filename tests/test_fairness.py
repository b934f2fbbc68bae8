"""The fairness audit: known answers on tiny frames, suppression of small groups, no person ids out."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import polars as pl
import pytest

from features.labels import add_labels
from models.anonymity import suppressed as suppressed_groups
from models.fairness import FOUR_FIFTHS, FairnessAudit, fairness_audit
from models.metrics import choose_weekly_flags
from simulator.organisation import simulate_organisation

pytestmark = pytest.mark.model

W1, W2 = date(2024, 1, 1), date(2024, 1, 8)


def pid(i: int) -> str:
    # Distinctive pseudonyms, so a leak into the output cannot hide among other text.
    return f"pseud-{i:04d}x"


def _row(person: int, week: date, flagged: bool, label: int | None, weeks_to: int | None) -> dict:
    return {
        "person_id": pid(person),
        "week": week,
        "flagged": flagged,
        "label": label,
        "weeks_to_outcome": weeks_to,
    }


def _scored(rows: list[dict]) -> pl.DataFrame:
    schema = {
        "person_id": pl.String,
        "week": pl.Date,
        "flagged": pl.Boolean,
        "label": pl.Int8,
        "weeks_to_outcome": pl.Int32,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


@pytest.fixture
def known() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two groups of four people, two weeks each; every number below is worked out by hand."""
    rows = [
        # group f: 4 of 8 person-weeks flagged, 3 of 4 people ever flagged
        _row(1, W1, True, 1, 2),
        _row(1, W2, True, 1, 1),
        _row(2, W1, True, 1, 5),
        _row(2, W2, False, 1, 4),
        _row(3, W1, True, 0, None),
        _row(3, W2, False, 0, None),
        _row(4, W1, False, 0, None),
        _row(4, W2, False, None, None),
        # group m: 3 of 8 flagged (one of them with an unknown label), 3 of 4 people ever flagged
        _row(5, W1, True, 1, 3),
        _row(5, W2, False, 1, 2),
        _row(6, W1, True, 0, None),
        _row(6, W2, False, 0, None),
        _row(7, W1, False, 1, 2),
        _row(7, W2, False, 1, 1),
        _row(8, W1, False, 0, None),
        _row(8, W2, True, None, None),
    ]
    people = pl.DataFrame(
        {
            "person_id": [pid(i) for i in range(1, 9)],
            "team_id": ["t1"] * 8,
            "audit_gender": ["f"] * 4 + ["m"] * 4,
        }
    )
    return _scored(rows), people


def _group(audit: FairnessAudit, attribute: str, group: str) -> dict:
    rows = audit.table.filter((pl.col("attribute") == attribute) & (pl.col("group") == group)).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_known_rates_ratio_and_warning(known: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    scored, people = known
    audit = fairness_audit(scored, people, threshold=2)

    f = _group(audit, "audit_gender", "f")
    assert f["people"] == 4
    assert f["flag_rate"] == pytest.approx(4 / 8)
    assert f["ever_flagged_rate"] == pytest.approx(3 / 4)
    assert f["precision"] == pytest.approx(3 / 4)  # flagged weeks: 1, 1, 1, 0
    assert f["recall"] == pytest.approx(3 / 4)  # positive weeks: p1 w1, p1 w2, p2 w1 flagged; p2 w2 not
    assert f["event_recall"] == pytest.approx(1.0)  # p1 and p2 both flagged before their outcome
    assert f["suppressed"] is False

    m = _group(audit, "audit_gender", "m")
    assert m["flag_rate"] == pytest.approx(3 / 8)
    assert m["ever_flagged_rate"] == pytest.approx(3 / 4)
    assert m["precision"] == pytest.approx(1 / 2)  # the flag with an unknown label is left out
    assert m["recall"] == pytest.approx(1 / 4)
    assert m["event_recall"] == pytest.approx(1 / 2)  # p5 caught, p7 missed

    assert audit.ratios == {"audit_gender": pytest.approx((3 / 8) / (4 / 8))}
    assert audit.recall_ratios == {"audit_gender": pytest.approx(0.5)}
    assert audit.ratios["audit_gender"] < FOUR_FIFTHS
    flag_warning = [w for w in audit.warnings if "four-fifths" in w]
    assert len(flag_warning) == 1
    assert "audit_gender" in flag_warning[0]
    assert "group m" in flag_warning[0] and "group f" in flag_warning[0]
    assert "0.750" in flag_warning[0]
    assert len(audit.warnings) == 1  # recall gaps are shown, not warned about (too few outcomes)
    assert "Lowest / highest event recall: 0.500" in audit.to_markdown()
    assert list(audit.table.columns) == [
        "attribute",
        "group",
        "people",
        "flag_rate",
        "ever_flagged_rate",
        "precision",
        "recall",
        "event_recall",
        "suppressed",
    ]


def test_no_warning_when_flag_rates_are_close(known: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    scored, people = known
    # Flag one more week in group m: 4 of 8 in both groups.
    scored = scored.with_columns(
        pl.when((pl.col("person_id") == pid(7)) & (pl.col("week") == W1))
        .then(True)
        .otherwise(pl.col("flagged"))
        .alias("flagged")
    )
    audit = fairness_audit(scored, people, threshold=2)
    assert audit.ratios["audit_gender"] == pytest.approx(1.0)
    assert not any("four-fifths" in w for w in audit.warnings)


def test_rates_over_too_few_people_are_left_out(known: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    scored, people = known
    # With a threshold of 4 the groups (4 people) are shown, but only 2 or 3 people carry precision and
    # recall: those rates would tell the analyst about individuals, so they stay empty.
    audit = fairness_audit(scored, people, threshold=4)
    f = _group(audit, "audit_gender", "f")
    assert f["flag_rate"] == pytest.approx(0.5)
    assert f["precision"] is None and f["recall"] is None and f["event_recall"] is None
    assert audit.recall_ratios["audit_gender"] is None


def _population(sizes: dict[str, int], flagged_groups: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows, groups = [], []
    i = 0
    for group, n in sizes.items():
        for k in range(n):
            i += 1
            groups.append((pid(i), group))
            # Half of each group's weeks flagged, except in groups listed as all flagged.
            flag = group in flagged_groups or k % 2 == 0
            rows.append(_row(i, W1, flag, 0, None))
    people = pl.DataFrame(groups, schema=["person_id", "audit_gender"], orient="row")
    return _scored(rows), people


def test_small_group_and_next_smallest_are_suppressed() -> None:
    scored, people = _population({"a": 10, "b": 8, "c": 6, "d": 3}, flagged_groups={"d"})
    audit = fairness_audit(scored, people, threshold=5)
    table = audit.table.sort("group")
    assert table["suppressed"].to_list() == [False, False, True, True]
    hidden = table.filter(pl.col("suppressed"))
    for column in ("people", "flag_rate", "ever_flagged_rate", "precision", "recall", "event_recall"):
        assert hidden[column].null_count() == hidden.height
    # a and b are both flagged at 0.5 (a: 5 of 10, b: 4 of 8); d (all flagged) stays out of the ratio.
    assert audit.ratios["audit_gender"] == pytest.approx(1.0)
    assert not any("four-fifths" in w for w in audit.warnings)

    markdown = audit.to_markdown()
    for group in ("c", "d"):
        line = next(ln for ln in markdown.splitlines() if ln.startswith(f"| {group} |"))
        assert "suppressed" in line
        assert not any(ch.isdigit() for ch in line)


def test_suppression_rule() -> None:
    assert suppressed_groups({"a": 10, "b": 8}, 5) == set()
    assert suppressed_groups({"a": 10, "b": 8, "c": 4}, 5) == {"b", "c"}
    # Two small groups that together reach the threshold are enough on their own.
    assert suppressed_groups({"a": 10, "b": 10, "c": 3, "d": 3}, 5) == {"c", "d"}
    # Two hidden people could still be worked out together from the totals: hide one more group.
    assert suppressed_groups({"a": 10, "b": 12, "c": 1, "d": 1}, 5) == {"a", "c", "d"}
    # Everyone in one small group: nothing left to show.
    assert suppressed_groups({"a": 3}, 5) == {"a"}


def test_only_one_shown_group_means_no_ratio() -> None:
    scored, people = _population({"a": 10, "b": 3}, flagged_groups=set())
    audit = fairness_audit(scored, people, threshold=5)
    assert audit.table["suppressed"].to_list() == [True, True]
    assert audit.ratios["audit_gender"] is None
    assert any("fewer than two groups" in w for w in audit.warnings)


def test_missing_values_and_unknown_people_form_the_unknown_group() -> None:
    scored, people = _population({"a": 8, "b": 8}, flagged_groups=set())
    people = people.with_columns(
        pl.when(pl.col("person_id").is_in([pid(1), pid(2)]))
        .then(None)
        .otherwise(pl.col("audit_gender"))
        .alias("audit_gender")
    )
    extra = _scored([_row(100 + k, W1, False, 0, None) for k in range(3)])  # scored, not in people
    audit = fairness_audit(pl.concat([scored, extra]), people, threshold=5)
    assert audit.table["group"].to_list() == ["a", "b", "unknown"]
    assert audit.table["people"].to_list() == [6, 8, 5]
    assert not audit.table["suppressed"].any()
    # A person listed twice in the people table still counts once.
    audit = fairness_audit(scored, pl.concat([people, people]), threshold=5)
    # (unknown now holds 2 people, so it and the next-smallest group, a, are hidden.)
    assert audit.table["people"].to_list() == [None, 8, None]


@pytest.mark.parametrize("people", [None, pl.DataFrame({"person_id": [pid(1)], "team_id": ["t1"]})])
def test_no_audit_columns_gives_an_audit_that_says_so(people: pl.DataFrame | None) -> None:
    scored = _scored([_row(1, W1, True, 1, 2)])
    audit = fairness_audit(scored, people)
    assert audit.table.is_empty()
    assert audit.ratios == {}
    assert audit.note is not None and "no fairness audit" in audit.note
    assert audit.warnings == [audit.note]
    assert audit.note in audit.to_markdown()
    assert json.loads(json.dumps(audit.to_dict(), allow_nan=False))["attributes"] == {}


def test_scored_rows_need_flags() -> None:
    with pytest.raises(ValueError, match="flagged"):
        fairness_audit(_scored([_row(1, W1, True, 1, 2)]).drop("flagged"), None)


def test_no_person_ids_in_dict_or_markdown(known: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    scored, people = known
    for threshold in (2, 5):
        audit = fairness_audit(scored, people, threshold=threshold)
        text = json.dumps(audit.to_dict(), allow_nan=False) + audit.to_markdown()
        for person in scored["person_id"].unique().to_list():
            assert person not in text


def test_simulated_organisation() -> None:
    org = simulate_organisation(600, 60, seed=1)
    grid = org.signals.select("person_id", "week").unique().lazy()
    known_until = org.signals["week"].max()
    labelled = (
        add_labels(grid, org.events.lazy(), horizon=12, known_until=pl.lit(known_until))
        .filter(pl.col("eligible"))
        .sort("person_id", "week")
        .collect()
    )
    # Sorted first: `unique()` keeps no order, and the seeded scores must land on the same rows every run.
    rng = np.random.default_rng(0)
    scored = choose_weekly_flags(labelled.with_columns(pl.Series("score", rng.random(labelled.height))), 0.02)

    audit = fairness_audit(scored, org.people, threshold=5, horizon=12)
    assert audit.attributes == ["audit_gender", "audit_age_band"]
    table = audit.table
    for attribute in audit.attributes:
        values = set(org.people[attribute].unique().to_list())
        groups = table.filter(pl.col("attribute") == attribute)
        assert set(groups["group"].to_list()) <= values | {"unknown"}
        hidden = groups.filter(pl.col("suppressed"))
        assert hidden.height != 1, "a single hidden group could be derived from the totals"
        assert hidden["flag_rate"].null_count() == hidden.height
        shown = groups.filter(~pl.col("suppressed"))
        assert (shown["people"] >= 5).all()
        for column in ("flag_rate", "ever_flagged_rate", "precision", "recall", "event_recall"):
            rates = shown[column].drop_nulls()
            assert ((rates >= 0) & (rates <= 1)).all()
        assert shown["people"].sum() <= scored["person_id"].n_unique()
        ratio = audit.ratios[attribute]
        assert ratio is None or 0 <= ratio <= 1
    # Random scores flag every sizeable group at about the capacity (2%). Groups of a few people are
    # left out: seven people's 400 person-weeks can hold 1 flag or 15 by chance alone. Over 200
    # shuffles of the rows, groups of 50 or more ranged 1.5% to 3.1%.
    sizeable_rates = table.filter(~pl.col("suppressed") & (pl.col("people") >= 50))["flag_rate"]
    assert sizeable_rates.len() >= 6
    assert sizeable_rates.min() > 0.01 and sizeable_rates.max() < 0.035
    summary = json.loads(json.dumps(audit.to_dict(), allow_nan=False))
    assert set(summary["attributes"]) == {"audit_gender", "audit_age_band"}
    text = json.dumps(summary) + audit.to_markdown()
    assert not any(p in text for p in org.people["person_id"].to_list())
