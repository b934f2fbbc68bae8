"""The key-based passes over a table: is it in key order, which keys repeat, what the summary counts.

A table in key order needs no grouping. Any other is grouped by key one person partition at a time
(see `features.contract_specs.PARTITION_ROWS`), each partition reduced to a few small frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from features.contract_report import Problem, TableProfile, example_rows, plural
from features.contract_rules import ColumnPlan
from features.contract_specs import (
    EXAMPLE_LIMIT,
    PARTITION_COLUMN,
    SUMMARY_COUNTS,
    SUMMARY_DISTINCT,
    TableSpec,
    person_partition,
)

_HASH = "__ewarn_key_hash__"
# Per key order (see key_orders): rows after the previous row's key, and rows that start a new
# person or summary combination.
IN_ORDER = "__ewarn_in_order_{}__"
_NEW_PEOPLE = "__ewarn_new_people_{}__"
_NEW_COMBINATIONS = "__ewarn_new_combinations_{}__"


def base_frame(
    spec: TableSpec,
    source: pl.LazyFrame,
    plans: Mapping[str, ColumnPlan],
    partitions: int = 1,
    index: int = 0,
) -> pl.LazyFrame | None:
    """The typed key (and value) of every row of one partition, plus the columns the summary counts.

    The one input that the key checks and the summary's counts all read; None when a key or value
    column could not be typed (the table has problems then).
    """
    needed = [*spec.key, *([spec.value_column] if spec.value_column else [])]
    if not all(name in plans for name in needed):
        return None
    extra = [name for name in SUMMARY_COUNTS.get(spec.name, ()) if name in plans and name not in needed]
    if partitions > 1:
        # Filter the raw rows before typing them, so each pass types only its own partition.
        source = source.filter(person_partition(plans[PARTITION_COLUMN].typed, partitions, index))
    typed = source.select(*(plans[name].typed.alias(name) for name in [*needed, *extra]))
    # Rows with a missing key or value are reported by their own rule; counting them here too
    # would turn one problem into two.
    return typed.filter(pl.all_horizontal(pl.col(name).is_not_null() for name in needed))


def _key_frame(
    spec: TableSpec,
    source: pl.LazyFrame,
    plans: Mapping[str, ColumnPlan],
    partitions: int = 1,
    index: int = 0,
) -> pl.LazyFrame | None:
    base = base_frame(spec, source, plans, partitions, index)
    return None if base is None else base.with_columns(pl.struct(list(spec.key)).hash().alias(_HASH))


def partition_pass(
    spec: TableSpec,
    source: pl.LazyFrame,
    plans: Mapping[str, ColumnPlan],
    partitions: int,
    index: int,
    *,
    profile: bool,
) -> list[pl.LazyFrame]:
    """The queries over one partition: the key hashes that repeat, then (with `profile`) the summary's.

    All are built on one and the same base frame, so that `pl.collect_all` reads the partition
    once for all of them (a CSV is parsed once, not once per query). Empty when the key columns
    could not be typed (the table has problems then).
    """
    base = base_frame(spec, source, plans, partitions, index)
    if base is None:
        return []
    # First a 64-bit hash of the key: a fraction of the memory of grouping by the strings
    # themselves, and exact enough to say "no duplicates at all", the usual answer. Only the
    # hashes that repeat come back, and `finish_partition` groups their few rows exactly.
    keys = base.with_columns(pl.struct(list(spec.key)).hash().alias(_HASH))
    queries = [keys.group_by(_HASH).agg(n=pl.len()).filter(pl.col("n") > 1).select(_HASH)]
    counts = summary_counts_query(spec, base) if profile else None
    if counts is not None:
        queries.append(counts)
        distinct = SUMMARY_DISTINCT.get(spec.name)
        if distinct is not None:
            queries.append(
                base.select(PARTITION_COLUMN, *distinct)
                .unique()
                .group_by(PARTITION_COLUMN)
                .agg(n=pl.len())
                .select(people=pl.len(), combinations=pl.col("n").sum())
            )
    return queries


def summary_counts_query(spec: TableSpec, base: pl.LazyFrame | None) -> pl.LazyFrame | None:
    """Rows per combination of the summary's columns (`SUMMARY_COUNTS`); None if not countable."""
    counted = SUMMARY_COUNTS.get(spec.name, ())
    if base is None or not counted or not set(counted) <= set(base.collect_schema().names()):
        return None
    return base.group_by(*counted).agg(n=pl.len())


def ordered_profile(
    spec: TableSpec,
    data: pl.LazyFrame,
    plans: Mapping[str, ColumnPlan],
    counts: Mapping[str, Any],
    order: int,
    summary_counts: pl.DataFrame,
) -> tuple[pl.DataFrame, ...]:
    """The summary's counts of a table in key order number `order`, as `partition_pass` gives them."""
    if SUMMARY_DISTINCT.get(spec.name) is None:
        return (summary_counts,)
    people = counts.get(_NEW_PEOPLE.format(order))
    if people is None:
        # A time-first order interleaves persons: their number takes one small query more.
        people = data.select(plans[PARTITION_COLUMN].typed.n_unique()).collect(engine="streaming").item()
    combinations = counts[_NEW_COMBINATIONS.format(order)]
    return summary_counts, pl.DataFrame({"people": [people], "combinations": [combinations]})


def key_orders(spec: TableSpec) -> list[tuple[str, ...]]:
    """The row orders in which a table is checked without grouping its keys.

    Its key order (person, week, signal), and the time-first order of a table appended week by
    week (week, person, signal). Either puts repeated keys next to each other.
    """
    orders = [spec.key]
    if len(spec.key) > 1:
        orders.append((spec.key[1], spec.key[0], *spec.key[2:]))
    return orders


def key_order_counts(spec: TableSpec, plans: Mapping[str, ColumnPlan]) -> list[pl.Expr]:
    """Counts that show, in one streaming pass, whether rows come in one of the `key_orders`.

    `IN_ORDER` of order i counts rows whose typed key (in that order) is strictly greater than
    the previous row's; it is rows - 1 exactly when the table is sorted that way with no key
    repeated or missing. The summary's distinct persons and combinations (person-weeks) are then
    the rows that start a new one, where the order allows counting them so.
    """
    if not all(name in plans for name in spec.key):
        return []
    distinct = SUMMARY_DISTINCT.get(spec.name)
    prefix = {PARTITION_COLUMN, *(distinct or ())}

    def starts(columns: Sequence[str]) -> pl.Expr:
        # Row 0 has no previous row (null): it starts the first person and combination.
        typed = [plans[name].typed for name in columns]
        return pl.any_horizontal(column != column.shift(1) for column in typed).fill_null(True).sum()

    counts = []
    for number, order in enumerate(key_orders(spec)):
        later = pl.lit(False)
        for key in reversed([plans[name].typed for name in order]):
            previous = key.shift(1)
            later = (key > previous) | ((key == previous) & later)
        counts.append(later.fill_null(False).sum().alias(IN_ORDER.format(number)))
        if distinct is not None and order[0] == PARTITION_COLUMN:
            counts.append(starts(order[:1]).alias(_NEW_PEOPLE.format(number)))
        if distinct is not None and set(order[: len(prefix)]) == prefix:
            counts.append(starts(order[: len(prefix)]).alias(_NEW_COMBINATIONS.format(number)))
    return counts


def duplicate_outcome(
    spec: TableSpec,
    file: str,
    source: pl.LazyFrame,
    plans: Mapping[str, ColumnPlan],
    parts: Sequence[Partition],
) -> tuple[int, list[Problem]]:
    """The identical duplicate rows dropped, and the problem if some keys repeat with a conflict.

    Counts add up over the partitions, as a repeated key never crosses them.
    """
    dropped_rows = sum(part.dropped for part in parts)
    group_count = sum(part.groups for part in parts)
    rows = sum(part.rows for part in parts)
    firsts = [part.first for part in parts if part.first is not None]
    if not group_count:
        return dropped_rows, []

    key = list(spec.key)
    # The first keys of each partition hold the first keys overall: sorting their union and
    # keeping five gives the examples a single pass would give.
    first = pl.concat(firsts).sort(key).head(EXAMPLE_LIMIT)
    if spec.value_column is not None:
        # The distinct values are gathered for the five example keys only: a list aggregation
        # over every group would not stream. The semi join holds just those five keys, so one
        # pass over the whole table is fine whatever its size.
        keys = _key_frame(spec, source, plans)
        assert keys is not None  # keys repeat only where the key columns could be typed
        value = pl.col(spec.value_column)
        shown = (
            keys.join(first.lazy().select(*spec.key), on=key, how="semi")
            .group_by(key)
            .agg(value.unique().sort().head(EXAMPLE_LIMIT))
            .collect(engine="streaming")
        )
        first = first.join(shown, on=key, how="left").select(*spec.key, spec.value_column, "rows")
    examples = first.sort(key)
    if spec.value_column is not None:
        key_words = ", ".join(spec.key[:-1]) + f" and {spec.key[-1]}"
        message = (
            f"{plural(group_count, 'combination')} of {key_words} "
            f"{'appears' if group_count == 1 else 'appear'} more than once with different values; "
            "keep one value per combination."
        )
    else:
        message = (
            f"{plural(group_count, 'person', 'people')} {'appears' if group_count == 1 else 'appear'} on "
            f"more than one row; {spec.key[0]} must be unique in {spec.name}."
        )
    column = spec.key[0] if len(spec.key) == 1 else None
    return dropped_rows, [Problem(file, column, message, rows, example_rows(examples))]


@dataclass(frozen=True)
class Partition:
    """What is kept of one partition once its queries ran: all small, whatever its size."""

    dropped: int = 0  # identical duplicate rows
    groups: int = 0  # keys repeated with different values (or at all, where duplicates are errors)
    rows: int = 0  # the rows of those keys
    first: pl.DataFrame | None = None  # up to five of those keys with their row counts, in key order
    dropped_by: pl.DataFrame | None = None  # identical duplicate rows per `SUMMARY_COUNTS` combination
    profile: tuple[pl.DataFrame, ...] = ()  # the summary's counts of this partition


def finish_partition(
    spec: TableSpec,
    source: pl.LazyFrame,
    plans: Mapping[str, ColumnPlan],
    partitions: int,
    index: int,
    found: Sequence[pl.DataFrame],
) -> Partition:
    """Group the few rows whose key hash repeats exactly, and keep what the report needs of them.

    `found`: the results of `partition_pass`, the repeated key hashes first.
    """
    repeated, profile = found[0], tuple(found[1:])
    if not repeated.height:
        return Partition(profile=profile)
    keys = _key_frame(spec, source, plans, partitions, index)
    assert keys is not None  # hashes exist only when the key columns could be typed
    aggregations = [pl.len().alias("n")]
    if spec.value_column is not None:
        aggregations.append(pl.col(spec.value_column).n_unique().alias("values"))
    # Joined with the repeated hashes already collected: joined while they are still being
    # computed, the streaming engine would buffer the whole partition on the other side. Only
    # the repeated keys of one partition are held, which costs little and saves a pass.
    groups = (
        keys.join(repeated.lazy(), on=_HASH, how="semi")
        .group_by(list(spec.key))
        .agg(aggregations)
        .filter(pl.col("n") > 1)
        .collect(engine="streaming")
    )
    n = pl.col("n")
    # `offending` must be a per-group column: a bare literal would be summed once, not per group.
    if spec.duplicates == "error":
        offending, dropped = n > 1, pl.lit(0)
    elif spec.value_column is None:
        offending, dropped = n < 0, (n - 1).sum()
    else:
        offending = pl.col("values") > 1
        dropped = pl.when(~offending).then(n - 1).otherwise(0).sum()
    totals = groups.select(
        dropped=dropped.cast(pl.Int64),
        groups=offending.cast(pl.Int64).sum(),
        rows=pl.when(offending).then(n).otherwise(0).cast(pl.Int64).sum(),
    )
    row = totals.row(0, named=True)
    dropped_rows, group_count, rows = (int(row[name] or 0) for name in ("dropped", "groups", "rows"))
    counted = list(SUMMARY_COUNTS.get(spec.name, ()))
    dropped_by = None
    if dropped_rows and set(counted) <= set(spec.key):
        # Reduced at once to the summary's combinations (a few hundred rows), not kept per key.
        dropped_by = groups.filter(~offending).group_by(counted).agg(d=(n - 1).cast(pl.Int64).sum())
    if not group_count:
        return Partition(dropped_rows, 0, 0, None, dropped_by, profile)
    first = (
        groups.filter(offending).sort(list(spec.key)).head(EXAMPLE_LIMIT).select(*spec.key, n.alias("rows"))
    )
    return Partition(dropped_rows, group_count, rows, first, dropped_by, profile)


def table_profile(spec: TableSpec, parts: Sequence[Partition]) -> TableProfile | None:
    """The summary's counts of a valid table, from those of its partitions (None if not counted)."""
    # They add up, as persons never cross partitions; then leave out the identical duplicates
    # that loading drops.
    counted = list(SUMMARY_COUNTS.get(spec.name, ()))
    if not counted or not parts or any(not part.profile for part in parts):
        return None
    n = pl.col("n").cast(pl.Int64)
    counts = pl.concat([part.profile[0] for part in parts]).group_by(counted).agg(n.sum())
    dropped = [part.dropped_by for part in parts if part.dropped_by is not None]
    if dropped:
        minus = pl.concat(dropped).group_by(counted).agg(pl.col("d").sum())
        counts = counts.join(minus, on=counted, how="left").select(
            *counted, n=pl.col("n") - pl.col("d").fill_null(0)
        )
    distinct = [part.profile[1] for part in parts if len(part.profile) > 1]
    people = sum(int(frame["people"].sum()) for frame in distinct)
    combinations = sum(int(frame["combinations"].sum() or 0) for frame in distinct)
    return TableProfile(counts, people, combinations)
