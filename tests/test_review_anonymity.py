"""Complementary suppression: no team under the threshold, and none that a total gives away."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.anonymity import suppressed, suppressed_in_view, total_is_safe

pytestmark = pytest.mark.code


def test_small_teams_are_hidden_and_nothing_else_when_two_small_ones_cover_each_other() -> None:
    assert suppressed({"a": 3, "b": 4, "c": 9, "d": 12}, 5) == {"a", "b"}


def test_a_single_hidden_team_takes_the_next_smallest_with_it() -> None:
    assert suppressed({"a": 3, "b": 6, "c": 9, "d": 12}, 5) == {"a", "b"}


def test_two_tiny_hidden_teams_keep_going_until_they_hold_the_threshold() -> None:
    assert suppressed({"a": 1, "b": 2, "c": 8, "d": 12}, 5) == {"a", "b", "c"}


def test_without_a_total_only_small_teams_are_hidden() -> None:
    assert suppressed({"a": 3, "b": 6, "c": 9}, 5, total_shown=False) == {"a"}


def test_nothing_hidden_when_every_team_is_large_enough() -> None:
    assert suppressed({"a": 5, "b": 6}, 5) == set()


def test_a_team_hidden_organisation_wide_is_hidden_in_a_view_and_covered_there() -> None:
    # t04 is hidden in the organisation (4 people); in a view of t01, t04, t05 it would be the only
    # hidden one, so the next-smallest of the view (t05) goes too.
    sizes = {"t01": 9, "t04": 4, "t05": 6, "t07": 3, "t08": 10}
    assert suppressed_in_view(sizes, ["t01", "t04", "t05"], 5) == {"t04", "t05"}


def test_a_total_over_a_single_small_team_is_not_safe() -> None:
    assert not total_is_safe({"t04": 4}, {"t04"}, 5)
    assert total_is_safe({"t01": 9}, set(), 5)
    assert total_is_safe({"a": 3, "b": 6, "c": 9}, {"a", "b"}, 5)
    assert not total_is_safe({"a": 3, "c": 9}, {"a"}, 5)


@given(
    st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), st.integers(0, 40), min_size=1, max_size=12),
    st.integers(2, 10),
)
def test_no_hidden_team_can_be_worked_out_from_the_total(sizes: dict[str, int], threshold: int) -> None:
    hidden = suppressed(sizes, threshold)
    assert all(g in hidden for g, n in sizes.items() if n < threshold)
    if hidden and len(hidden) < len(sizes):
        assert len(hidden) >= 2
        assert sum(sizes[g] for g in hidden) >= threshold
    if total_is_safe(sizes, hidden, threshold) and hidden:
        # The hidden remainder of the total is at least two teams holding the threshold together.
        assert len(hidden) >= 2 and sum(sizes[g] for g in hidden) >= threshold
