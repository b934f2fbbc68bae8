"""The signal catalog: what each signal means, which family it belongs to, and which way is risk."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Direction = Literal["falls", "rises", "none"]
Kind = Literal["activity", "survey", "absence", "leave"]
Role = Literal["cause", "sign"]

DEFAULT_CATALOG_PATH = Path(__file__).with_name("default_catalog.toml")
# The built-in catalog, read in this order: the simulator's and common HR signals, then the
# metrics of a Viva Insights person query and its survey items.
DEFAULT_CATALOG_PATHS = (DEFAULT_CATALOG_PATH, Path(__file__).with_name("viva_catalog.toml"))
OTHER_FAMILY = "other"
_DIRECTIONS = ("falls", "rises", "none")
_KINDS = ("activity", "survey", "absence", "leave")
_ROLES = ("cause", "sign")


class CatalogError(ValueError):
    """A catalog file that cannot be used, with the reason in words."""


@dataclass(frozen=True)
class SignalInfo:
    """What the catalog says about one signal."""

    name: str
    label: str
    unit: str
    family: str
    direction: Direction
    kind: Kind
    known: bool = True
    note: str = ""

    @property
    def risk_sign(self) -> int:
        """+1 when risk rises with the signal, -1 when it rises as the signal falls, 0 when neither."""
        return {"rises": 1, "falls": -1, "none": 0}[self.direction]

    @property
    def may_have_risky_way(self) -> bool:
        """A direction the catalog gives, or one still to learn: an uncatalogued signal but planned leave."""
        return self.risk_sign != 0 or (not self.known and self.kind != "leave")


@dataclass(frozen=True)
class FamilyInfo:
    """A family of signals: a cause or a symptom of demotivation, with conversation prompts.

    `role` is "cause" for what can drive a decline and is worth talking about (recognition,
    workload, ...) and "sign" for what follows any decline whatever its cause (withdrawal from
    conversations, short absences, ...). Explanations lead with a cause when one raises risk.
    """

    name: str
    label: str
    description: str
    prompts: tuple[str, ...]
    role: Role = "sign"


@dataclass(frozen=True)
class Catalog:
    """Signals and families, with a sensible answer for signals it does not know."""

    signals: dict[str, SignalInfo]
    families: dict[str, FamilyInfo]
    source: str = field(default="built-in")
    # Uncatalogued signals with a direction a fitted model learnt (models.directions): still not
    # `known`, so coverage and notices count only what a person described.
    learnt: dict[str, SignalInfo] = field(default_factory=dict)

    def signal(self, name: str) -> SignalInfo:
        """Describe a signal; one the catalog does not know gets a derived label and family 'other'."""
        known = self.signals.get(name) or self.learnt.get(name)
        if known is not None:
            return known
        kind = kind_from_name(name)
        return SignalInfo(
            name=name,
            label=readable_label(name),
            unit="",
            family=OTHER_FAMILY,
            direction="none",
            kind=kind,
            known=False,
        )

    def family(self, name: str) -> FamilyInfo:
        """Describe a family; an unknown one gets a label derived from its name and no prompts."""
        return self.families.get(name) or FamilyInfo(name, readable_label(name), "", ())


# What a signal's name says it is (contract names: lowercase, '_' between words). Sickness before
# leave, so that "sick_leave_days" is an absence; pto only as a whole word (not in "laptop").
_SICK_NAME = re.compile(r"sick|illness|absen")
_LEAVE_NAME = re.compile(r"leave|vacation|holiday|time_?off|(^|[._])pto([._]|$)")
_SURVEY_NAME = re.compile(r"^pulse[._]|survey|(^|[._])(1_5|1_7|0_10|1_10)$")


def kind_from_name(name: str) -> Kind:
    """The kind an uncatalogued signal's name tells: absence, planned leave, a survey item, else activity."""
    if _SICK_NAME.search(name):
        return "absence"
    if _LEAVE_NAME.search(name):
        return "leave"
    if _SURVEY_NAME.search(name):
        return "survey"
    return "activity"


def readable_label(name: str) -> str:
    """Turn a machine name such as 'pulse.team_spirit' into 'Pulse: team spirit'."""
    parts = [p.replace("_", " ").strip() for p in name.split(".") if p.strip("_ ")]
    if not parts:
        return name
    text = ": ".join(parts)
    return text[0].upper() + text[1:]


def load_catalog(path: Path | None = None) -> Catalog:
    """The built-in catalog, extended by a user's TOML file when one is given.

    A user's entry overrides the built-in entry of the same name (a whole entry, not field by
    field); every other built-in family and signal stays, so a catalog of one's own only needs
    what it adds or changes.
    """
    raw: dict = {"families": {}, "signals": {}}
    sources = [*DEFAULT_CATALOG_PATHS, *([path] if path is not None else [])]
    for source in sources:
        part = _read_toml(source)
        for table in ("families", "signals"):
            entries = part.get(table) or {}
            if not isinstance(entries, dict):
                raise CatalogError(f"{source}: [{table}] must be a table of entries")
            raw[table].update(entries)
    shown = "built-in" if path is None else f"built-in extended by {path}"
    return parse_catalog(raw, source=shown)


def _read_toml(source: Path) -> dict:
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"{source}: catalog file not found") from exc
    except IsADirectoryError as exc:
        raise CatalogError(f"{source}: is a folder; give the catalog's TOML file") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{source}: not a valid TOML file ({exc})") from exc


def parse_catalog(raw: dict, source: str = "inline") -> Catalog:
    """Build a catalog from parsed TOML, naming the entry and the field of every problem."""
    problems: list[str] = []
    families: dict[str, FamilyInfo] = {}
    for name, entry in (raw.get("families") or {}).items():
        prompts = entry.get("prompts", [])
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            problems.append(f"families.{name}.prompts must be a list of strings")
            prompts = []
        role = entry.get("role", "sign")
        if role not in _ROLES:
            problems.append(f"families.{name}.role is {role!r}; expected one of {_ROLES}")
            role = "sign"
        families[name] = FamilyInfo(
            name=name,
            label=str(entry.get("label") or readable_label(name)),
            description=str(entry.get("description", "")),
            prompts=tuple(prompts),
            role=role,
        )
    families.setdefault(OTHER_FAMILY, FamilyInfo(OTHER_FAMILY, "Other signals", "", ()))
    signals: dict[str, SignalInfo] = {}
    for name, entry in (raw.get("signals") or {}).items():
        direction = entry.get("direction", "none")
        kind = entry.get("kind", "survey" if name.startswith("pulse.") else "activity")
        family = entry.get("family", OTHER_FAMILY)
        if direction not in _DIRECTIONS:
            problems.append(f"signals.{name}.direction is {direction!r}; expected one of {_DIRECTIONS}")
        if kind not in _KINDS:
            problems.append(f"signals.{name}.kind is {kind!r}; expected one of {_KINDS}")
        if family not in families:
            problems.append(f"signals.{name}.family {family!r} has no [families.{family}] entry")
        signals[name] = SignalInfo(
            name=name,
            label=str(entry.get("label") or readable_label(name)),
            unit=str(entry.get("unit", "")),
            family=family,
            direction=direction,
            kind=kind,
            note=str(entry.get("note", "")),
        )
    if problems:
        raise CatalogError(f"{source}: " + "; ".join(problems))
    return Catalog(signals=signals, families=families, source=source)


@dataclass(frozen=True)
class Coverage:
    """Which of a landing's signals the catalog describes, and near-misses for the rest.

    `near_misses` maps an unknown signal to the catalogued name it most likely meant (a typo, or
    the same name written another way), for a person to check.
    """

    known: tuple[str, ...]
    unknown: tuple[str, ...]
    near_misses: dict[str, str]

    def render(self) -> str:
        """One line, or a few, for a validation report."""
        total = len(self.known) + len(self.unknown)
        lines = [f"catalog: describes {len(self.known)} of {total} signal{'s' if total != 1 else ''}"]
        if self.unknown:
            listed = ", ".join(self.unknown[:_UNKNOWN_SHOWN])
            more = (
                f" and {len(self.unknown) - _UNKNOWN_SHOWN} more"
                if len(self.unknown) > _UNKNOWN_SHOWN
                else ""
            )
            lines[0] += (
                f"; not described: {listed}{more}. These get a label and kind from their name, family "
                "'other' and a direction each training learns from its own rows (draft entries to check "
                "with `ewarn catalog suggest`, then pass them with --catalog FILE)"
            )
        for name, meant in sorted(self.near_misses.items()):
            lines.append(f"  {name}: not in the catalog; did you mean {meant}?")
        return "\n".join(lines)


_UNKNOWN_SHOWN = 10


def coverage(catalog: Catalog, signal_names: Iterable[str]) -> Coverage:
    """Split signal names into those the catalog knows and not, with near-misses for the latter."""
    from features.names import normalise_signal_name

    names = sorted(set(signal_names))
    known = tuple(name for name in names if name in catalog.signals)
    unknown = tuple(name for name in names if name not in catalog.signals)
    by_form = {_squeezed(normalise_signal_name(n)): n for n in catalog.signals}
    near: dict[str, str] = {}
    for name in unknown:
        same = by_form.get(_squeezed(normalise_signal_name(name)))
        close = difflib.get_close_matches(name, list(catalog.signals), n=1, cutoff=0.85)
        if same or close:
            near[name] = same or close[0]
    return Coverage(known, unknown, near)


def _squeezed(name: str) -> str:
    # "work_life_balance", "worklifebalance" and "pulse.work-life" differ only in separators.
    return name.replace("_", "").replace(".", "")
