"""Governance commands for `ewarn`: `subject-access`, `forget`, `purge`, `report works-council`, `notice`.

`cli.main` calls `register(app)`. Each command checks its arguments
before any work (exit 2), writes its file atomically, and audits what it did. A pseudonym that
ewarn does not know is never repeated back: it may be a name typed by mistake.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cli.common import DebugOption, HomeOption, fail
from flows.settings import Settings

if TYPE_CHECKING:
    from features.catalog import Catalog
    from flows.store import FlagStore

T = TypeVar("T")

Pseudonym = Annotated[str, typer.Argument(help="The person's pseudonym (as in `ewarn flags`), never a name.")]

report_app = typer.Typer(help="Reports for the organisation's oversight bodies.", no_args_is_help=True)


def _settings(home: Path | None) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(home=home) if home is not None else Settings()
    except ValidationError as exc:
        names = ["EWARN_" + "_".join(map(str, e["loc"])).upper() for e in exc.errors()]
        problems = "; ".join(f"{name}: {e['msg']}" for name, e in zip(names, exc.errors(), strict=True))
        raise fail(f"A setting is out of range: {problems}.") from None


def _guarded(debug: bool, what: str, work: Callable[[], T]) -> T:
    """Run `work`; known failures become one paragraph and an exit code, others exit 1 with advice."""
    from features.catalog import CatalogError
    from flows.exclusions import ExclusionListError
    from flows.lock import JobAlreadyRunningError
    from flows.store_schema import StoreError

    try:
        return work()
    except typer.Exit:
        raise
    except (ExclusionListError, CatalogError) as exc:
        raise fail(str(exc)) from None
    except (StoreError, JobAlreadyRunningError) as exc:
        raise fail(str(exc), code=1) from None
    except Exception as exc:
        if debug:
            raise
        raise fail(
            f"{what} failed ({type(exc).__name__}: {exc}). Run it again once the cause is fixed (it is "
            "safe to repeat); add --debug to see the traceback.",
            code=1,
        ) from None


def _check_pseudonym(value: str) -> str:
    import polars as pl

    from features.masking import looks_like_email, looks_like_name

    value = value.strip()
    frame = pl.DataFrame({"v": [value]})
    odd = frame.select((looks_like_email(pl.col("v")) | looks_like_name(pl.col("v"))).any()).item()
    if not value or odd or any(c.isspace() for c in value):
        raise fail(
            "That is not a pseudonym: it looks like an e-mail address or a name. Give the person's "
            "pseudonym (the code shown by `ewarn flags`, made by `ewarn pseudonymise` with the "
            "organisation's key); names never go into ewarn."
        )
    return value


def _check_out(out: Path, suffixes: tuple[str, ...]) -> str:
    suffix = out.suffix.lower()
    if suffix not in suffixes:
        raise fail(f"{out}: the output must end in {' or '.join(suffixes)} (got {out.suffix or 'none'}).")
    if out.is_dir():
        raise fail(f"{out} is a folder; give a file name such as {out / ('file' + suffixes[0])}.")
    return suffix


def _store(settings: Settings) -> FlagStore:
    from flows.store import FlagStore

    return FlagStore(settings.flag_store_url())


def _catalog(settings: Settings) -> Catalog:
    from features.catalog import load_catalog

    return load_catalog(settings.catalog)


def subject_access(
    pseudonym: Pseudonym,
    out: Annotated[Path, typer.Option("--out", help="File to write: .json (complete) or .html (to read).")],
    home: HomeOption = None,
    debug: DebugOption = False,
) -> None:
    """Write everything ewarn holds about one person (GDPR Art. 15); exit 2 for an unknown pseudonym."""
    from flows import governance
    from flows.governance_pages import subject_access_html
    from flows.tables import write_text_atomically

    suffix = _check_out(out, (".json", ".html"))
    pseudonym = _check_pseudonym(pseudonym)
    settings = _settings(home)

    def work() -> None:
        store = _store(settings)
        record = governance.subject_access(settings, store, _catalog(settings), pseudonym)
        if record is None:
            store.audit("cli", "subject_access_refused", "person", "unknown pseudonym")
            raise fail(
                "ewarn holds nothing about that pseudonym: it is not in the flag store, the audit trail, "
                f"the opt-out list or the landing folder {settings.landing_folder()}. Check it against "
                "`ewarn flags` or compute it again with `ewarn pseudonymise`. Nothing was written."
            )
        text = governance.record_json(record) if suffix == ".json" else subject_access_html(record)
        write_text_atomically(out, text)
        store.audit("cli", governance.SUBJECT_ACCESS, f"person:{pseudonym}", f"format={suffix[1:]}")
        typer.echo(
            f"Wrote what ewarn holds about {pseudonym} to {out}: {len(record['flags'])} flags, "
            f"{len(record['decisions'])} decisions, {len(record['access'])} audit entries about them. "
            "The request is in the audit trail."
        )

    _guarded(debug, "The subject-access copy", work)


def forget(
    pseudonym: Pseudonym,
    home: HomeOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation at a terminal.")] = False,
    debug: DebugOption = False,
) -> None:
    """Erase one person (GDPR Art. 17): flags, reasons, series, decisions, notes; opt them out for good."""
    from flows import governance

    pseudonym = _check_pseudonym(pseudonym)
    settings = _settings(home)
    asked = not yes and sys.stdin.isatty()
    if asked and not typer.confirm(f"Erase everything ewarn holds about {pseudonym}?"):
        raise fail("Nothing was erased.", code=1)

    def work() -> None:
        store = _store(settings)
        catalog = _catalog(settings)
        if governance.subject_access(settings, store, catalog, pseudonym) is None:
            raise fail(
                "ewarn holds nothing about that pseudonym (flag store, audit trail, opt-out list, landing "
                f"folder {settings.landing_folder()}); nothing was erased. Check it against `ewarn flags`."
            )
        done = governance.forget(settings, store, catalog, pseudonym)
        reports = len(done.reports_rewritten) + len(done.reports_removed)
        typer.echo(
            f"Erased {pseudonym}: {done.flags} flags with {done.reasons} reasons and their signal series, "
            f"{done.decisions} decisions and notes; {reports} nightly reports written again without them. "
            f"They are on the opt-out list {settings.exclusions_file()}, so no later run scores, flags or "
            "trains on them; the audit trail keeps a tombstone. Not reachable from here: the landing "
            "folder (the source system's), models trained before today (retrain), copies and backups: "
            "see docs/governance.md."
        )

    _guarded(debug, "The erasure", work)


def purge(
    home: HomeOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would go.")] = False,
    debug: DebugOption = False,
) -> None:
    """Remove what is past its retention period now (the nightly run does this every night)."""
    from flows.retention import purge as run_purge

    settings = _settings(home)

    def work() -> None:
        counts = run_purge(settings, _store(settings), dry_run=dry_run)
        typer.echo(counts.render(settings.retention_weeks, settings.audit_retention_weeks, dry_run))

    _guarded(debug, "The purge", work)


@report_app.command("works-council")
def works_council(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")],
    months: Annotated[int, typer.Option("--months", min=1, max=120, help="Months to cover.")] = 12,
    home: HomeOption = None,
    debug: DebugOption = False,
) -> None:
    """One offline HTML report for the works council and the DPO: aggregates only, small teams hidden."""
    from flows import governance
    from flows.governance_pages import works_council_html
    from flows.tables import write_text_atomically

    _check_out(out, (".html",))
    settings = _settings(home)

    def work() -> None:
        store = _store(settings)
        summary = governance.works_council(settings, store, _catalog(settings), months)
        write_text_atomically(out, works_council_html(summary))
        store.audit("cli", "works_council_report", "report", f"months={months}")
        typer.echo(f"Wrote the works-council report over {months} months to {out} (aggregates only).")

    _guarded(debug, "The works-council report", work)


def notice(
    out: Annotated[Path, typer.Option("--out", help="File to write: .md (to edit) or .html.")],
    home: HomeOption = None,
    debug: DebugOption = False,
) -> None:
    """Write the notice for workers from the signal catalog and the settings in force, to edit and share."""
    from flows import governance
    from flows.governance_pages import notice_html
    from flows.store_schema import utc_now
    from flows.tables import write_text_atomically
    from models.governance import Policy
    from models.notice import notice_markdown, notice_sections

    suffix = _check_out(out, (".md", ".html"))
    settings = _settings(home)

    def work() -> None:
        model = governance.champion_in_force(_store(settings))
        sections = notice_sections(Policy.from_settings(settings), _catalog(settings), model)
        stamp = utc_now()
        text = notice_markdown(sections, stamp) if suffix == ".md" else notice_html(sections, stamp)
        write_text_atomically(out, text)
        typer.echo(f"Wrote the notice for workers to {out}. Fill in the parts in [square brackets].")

    _guarded(debug, "The notice", work)


def register(app: typer.Typer) -> None:
    """Add the governance commands to the `ewarn` command line."""
    app.command("subject-access")(subject_access)
    app.command("forget")(forget)
    app.command("purge")(purge)
    app.add_typer(report_app, name="report")
    app.command("notice")(notice)
