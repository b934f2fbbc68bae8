"""Which teams an aggregate may show: small ones never, and none that could be worked out by subtraction.

Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def suppressed(
    sizes: Mapping[str, int],
    threshold: int,
    *,
    total_shown: bool = True,
    also_hidden: Iterable[str] = (),
) -> set[str]:
    """The groups to hide in a breakdown of `sizes` (group -> people).

    Groups under `threshold` people are hidden, plus any in `also_hidden` (hidden elsewhere, say in
    the organisation-wide breakdown). When the breakdown shows a total, one hidden group alone could
    be worked out by subtracting the shown ones from it, so hiding goes on with the next-smallest
    group until at least two are hidden and together they hold at least `threshold` people (or no
    group is left to hide).
    """
    hidden = {g for g, n in sizes.items() if n < threshold}
    hidden |= {g for g in also_hidden if g in sizes}
    if not hidden or not total_shown:
        return hidden
    for group in sorted(sizes, key=lambda g: (sizes[g], g)):
        if len(hidden) >= 2 and sum(sizes[g] for g in hidden) >= threshold:
            break
        hidden.add(group)
    return hidden


def suppressed_in_view(all_sizes: Mapping[str, int], visible: Iterable[str], threshold: int) -> set[str]:
    """Teams to hide in a breakdown over `visible` teams whose total is shown, within an organisation.

    The organisation's totals are known (every run reports people scored and flags), so the
    organisation-wide breakdown is suppressed first; the visible teams' own breakdown then hides
    the same teams and, if that leaves a single one hidden among them, the next-smallest too.
    """
    visible_sizes = {t: all_sizes[t] for t in visible if t in all_sizes}
    org_hidden = suppressed(all_sizes, threshold)
    return suppressed(visible_sizes, threshold, also_hidden=org_hidden)


def total_is_safe(sizes: Mapping[str, int], hidden: Iterable[str], threshold: int) -> bool:
    """Whether a total over `sizes` may be shown beside the groups not in `hidden`.

    Not when it covers fewer than `threshold` people, nor when a single hidden group could be
    recovered from it (say, a breakdown of one small team).
    """
    hidden = [g for g in hidden if g in sizes]
    if sum(sizes.values()) < threshold:
        return False
    return not hidden or (len(hidden) >= 2 and sum(sizes[g] for g in hidden) >= threshold)
