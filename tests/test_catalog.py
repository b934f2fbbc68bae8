"""The signal catalog: the shipped default, user catalogs, and signals nobody described."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.catalog import CatalogError, load_catalog, readable_label
from simulator.constants import SIGNALS

pytestmark = pytest.mark.code


def test_default_catalog_describes_every_simulated_signal_but_the_noise() -> None:
    catalog = load_catalog()
    unknown = {name for name in SIGNALS if not catalog.signal(name).known}
    assert unknown == {"docs_viewed", "wiki_edits", "badge_swipes"}
    assert catalog.signal("questions_asked").direction == "falls"
    assert catalog.signal("approval_requests").direction == "rises"
    assert catalog.signal("planned_leave_days").kind == "leave"


def test_every_family_with_directed_signals_has_two_or_three_feedforward_prompts() -> None:
    catalog = load_catalog()
    for info in catalog.signals.values():
        if info.direction == "none":
            continue
        family = catalog.family(info.family)
        assert family.description, family.name
        assert 2 <= len(family.prompts) <= 3, family.name
        for prompt in family.prompts:
            assert prompt.endswith("?"), prompt
            assert "model" not in prompt.lower() and "data" not in prompt.lower()


def test_default_catalog_calls_the_drivers_causes_and_the_rest_signs() -> None:
    catalog = load_catalog()
    causes = {name for name, family in catalog.families.items() if family.role == "cause"}
    assert causes == {
        "recognition",
        "goal_clarity",
        "autonomy",
        "growth",
        "workload",
        "manager_support",
        "psychological_safety",
        "resources",
    }
    assert catalog.family("connection").role == "sign"
    assert catalog.family("a_family_nobody_described").role == "sign"


def test_unknown_signal_gets_a_readable_label_and_family_other() -> None:
    info = load_catalog().signal("pulse.team_spirit")
    assert (info.label, info.family, info.kind, info.known) == (
        "Pulse: team spirit",
        "other",
        "survey",
        False,
    )
    assert readable_label("code_reviews_given") == "Code reviews given"


def test_user_catalog_extends_the_default_and_overrides_entries_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(
        """
[families.craft]
label = "Craft"
description = "Pride in the work itself."
prompts = ["What would you like to get better at?", "Which work makes you proud?"]

[signals.code_reviews_given]
label = "Code reviews given"
unit = "a week"
family = "craft"
direction = "falls"

[signals.emails_read]
label = "Emails read"
unit = "a week"
family = "connection"
direction = "falls"

[signals.esat]
label = "Satisfaction (our survey)"
unit = "score 0-10"
family = "engagement"
direction = "falls"
kind = "survey"
""",
        encoding="utf-8",
    )
    catalog = load_catalog(path)
    assert catalog.signal("code_reviews_given").family == "craft"
    assert catalog.family("craft").role == "sign"  # a family is a sign unless the catalog says cause
    # The built-in entries stay: a user catalog adds to them.
    assert catalog.signal("questions_asked").family == "initiative"
    assert catalog.family("recognition").prompts == load_catalog().family("recognition").prompts
    # An entry of the same name replaces the built-in one whole.
    assert catalog.signal("emails_read").direction == "falls"
    assert (catalog.signal("esat").label, catalog.signal("esat").unit) == (
        "Satisfaction (our survey)",
        "score 0-10",
    )
    assert catalog.signal("esat").note == ""
    assert "extended by" in catalog.source


def test_a_user_signal_may_use_a_built_in_family(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('[signals.kudos_given]\nfamily = "recognition"\ndirection = "falls"\n', encoding="utf-8")
    assert load_catalog(path).signal("kudos_given").family == "recognition"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[signals.x\n", "not a valid TOML file"),
        ('[signals.x]\nfamily = "nowhere"\n', "has no [families.nowhere] entry"),
        ('[signals.x]\ndirection = "up"\n', "direction is 'up'"),
        ('[signals.x]\nkind = "email"\n', "kind is 'email'"),
        ('[families.x]\nrole = "driver"\n', "families.x.role is 'driver'"),
    ],
)
def test_broken_catalog_names_the_entry_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=r"bad\.toml") as raised:
        load_catalog(path)
    assert message in str(raised.value)
