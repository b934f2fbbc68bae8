"""The review web app (FastAPI, server-rendered Jinja2): log-in, queue, flag, decision, teams, model.

Every route that shows data needs a live session, and every query is cut to the teams the user
may see. A flag of another team answers exactly like a flag that does not exist. Every form
carries a CSRF token; forms are read by `review.forms` (URL-encoded only, size-capped).
Every page view, log-in and decision, failed or not, is audited with the client's address; a
typed note is shown back on every error, never lost. Log-ins are throttled (`review.throttle`).
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.catalog import Catalog, load_catalog
from flows.store import FlagStore
from flows.store_schema import DECISIONS, OPEN
from models.fairness import DEFAULT_THRESHOLD
from models.outcome_words import outcome_label, percent, risk_sentence
from review import auth, charts, queries, throttle
from review.forms import MAX_NOTE_CHARS, client_of, form_fields

HERE = Path(__file__).parent
SESSION_COOKIE = "ewarn_session"
LOGIN_CSRF_COOKIE = "ewarn_login_csrf"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Pages hold person-level data: no browser or proxy may keep a copy.
    "Cache-Control": "no-store",
}


class LoginRequiredError(Exception):
    """No live session: the browser is sent to the log-in page."""


def _session_or_none(request: Request) -> auth.Session | None:
    return auth.session_of(request.app.state.store, request.cookies.get(SESSION_COOKIE))


def current_session(request: Request) -> auth.Session:
    """Dependency: the live session, or a redirect to the log-in page."""
    session = _session_or_none(request)
    if session is None:
        raise LoginRequiredError
    return session


# Module level, not inside create_app: FastAPI resolves these string annotations in module globals.
Current = Annotated[auth.Session, Depends(current_session)]
Form = Annotated[dict[str, str], Depends(form_fields)]


def readable_time(value: str | None) -> str:
    """An ISO 8601 UTC time as "2025-03-03 14:05 UTC" (unchanged when it is not one)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def render_markdown(text: str, shift_headings: int = 2) -> Markup:
    """Markdown (the model card) as HTML, with any HTML in the source escaped, never passed through.

    Headings move down `shift_headings` levels (at most to h6) so the card's "# Model card" sits
    under the page's own headings.
    """
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text or "")
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + shift_headings)}"
    return Markup(md.renderer.render(tokens, md.options, {}))


def create_app(
    store: FlagStore | str,
    *,
    anonymity_threshold: int = DEFAULT_THRESHOLD,
    catalog: Catalog | None = None,
    secure_cookies: bool = False,
) -> FastAPI:
    """Build the app on a flag store (or its URL).

    `secure_cookies` marks the cookies Secure: set it when the app is served over HTTPS.
    """
    store = FlagStore(store) if isinstance(store, str) else store
    catalog = catalog or load_catalog()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(
        decision_labels=queries.DECISION_LABELS, decisions=DECISIONS, family=catalog.family
    )
    templates.env.filters["percent"] = lambda v: "–" if v is None else f"{v:.0%}"
    templates.env.filters["when"] = readable_time

    app = FastAPI(title="ewarn review", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.store = store
    guard = throttle.LoginGuard()

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response

    def page(
        request: Request, name: str, context: dict[str, Any], session: auth.Session | None, status: int = 200
    ) -> HTMLResponse:
        context = {
            "user": session.user if session else None,
            "csrf": session.csrf_token if session else "",
            **context,
        }
        return templates.TemplateResponse(request, name, context, status_code=status)

    def session_or_none(request: Request) -> auth.Session | None:
        return _session_or_none(request)

    def csrf_ok(form: dict[str, str], expected: str) -> bool:
        return bool(expected) and hmac.compare_digest(form.get("csrf", "").encode(), expected.encode())

    def check_csrf(form: dict[str, str], expected: str) -> None:
        if not csrf_ok(form, expected):
            raise HTTPException(403, "csrf")

    def audit(request: Request, actor: str, action: str, target: str, detail: str = "") -> None:
        store.audit(actor, action, target, detail, client=client_of(request))

    def cookie(response: Response, name: str, value: str, max_age: int, path: str = "/") -> None:
        response.set_cookie(
            name, value, max_age=max_age, path=path, httponly=True, samesite="strict", secure=secure_cookies
        )

    @app.exception_handler(LoginRequiredError)
    async def to_login(request: Request, exc: LoginRequiredError) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        session = session_or_none(request)
        if exc.status_code == 404:
            return page(request, "not_found.html", {"title": "Not found"}, session, 404)
        if exc.detail == "csrf":
            message = (
                "This form has expired or did not come from this page. Go back, reload the page and "
                "try again."
            )
        else:
            message = str(exc.detail)
        return page(
            request, "error.html", {"title": "Cannot do that", "message": message}, session, exc.status_code
        )

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        if session_or_none(request) is not None:
            return RedirectResponse("/", status_code=303)
        return _login_page(request, status=200, error=None)

    def _login_page(
        request: Request, status: int, error: str | None, name: str = "", retry_after: int = 0
    ) -> Response:
        token = secrets.token_urlsafe(32)
        response = page(
            request,
            "login.html",
            {"title": "Log in", "login_csrf": token, "error": error, "name": name},
            None,
            status,
        )
        cookie(response, LOGIN_CSRF_COOKIE, token, max_age=3600, path="/login")
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def _paused(request: Request, name: str, seconds: int) -> Response:
        wait = f"{seconds} seconds" if seconds < 120 else f"{-(-seconds // 60)} minutes"
        error = f"Too many failed log-ins from here. Wait {wait}, then try again."
        return _login_page(request, status=429, error=error, name=name, retry_after=seconds)

    @app.post("/login")
    async def login(request: Request, form: Form) -> Response:
        check_csrf(form, request.cookies.get(LOGIN_CSRF_COOKIE, ""))
        name, client = form.get("name", "").strip()[:128], client_of(request)
        if wait := guard.pause(client, name):
            return _paused(request, name, wait)
        if not await guard.acquire_check():
            busy = "Many log-ins are being checked just now. Try again in a few seconds."
            return _login_page(request, status=503, error=busy, name=name, retry_after=2)
        try:
            # Another attempt from this client may have failed while this one waited for a slot.
            if wait := guard.pause(client, name):
                return _paused(request, name, wait)
            result = await run_in_threadpool(auth.log_in, store, name, form.get("password", ""), client)
        finally:
            guard.release_check()
        if result.token is None:
            if pause := guard.failed(client, name):
                detail = f"repeated failures: this client waits {pause} s before trying this name again"
                await run_in_threadpool(store.audit, result.actor, "login_paused", "login", detail, client)
            return _login_page(request, status=401, error="Wrong name or password.", name=name)
        guard.succeeded(client, name)
        response = RedirectResponse("/", status_code=303)
        cookie(response, SESSION_COOKIE, result.token, max_age=auth.SESSION_HOURS * 3600)
        response.delete_cookie(
            LOGIN_CSRF_COOKIE, path="/login", httponly=True, samesite="strict", secure=secure_cookies
        )
        return response

    @app.post("/logout")
    def logout(request: Request, session: Current, form: Form) -> Response:
        check_csrf(form, session.csrf_token)
        auth.log_out(store, request.cookies.get(SESSION_COOKIE), client_of(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookies
        )
        return response

    @app.get("/", response_class=HTMLResponse)
    def queue_page(
        request: Request,
        session: Current,
        team: str | None = None,
        family: str | None = None,
        status: str = OPEN,
        sort: str = "risk",
        recorded: int = 0,
    ) -> Response:
        status = status if status in (*queries.STATUSES, "all") else OPEN
        sort = sort if sort in queries.SORTS else "risk"
        team, family = (team or "")[:64] or None, (family or "")[:64] or None
        rows = queries.queue(store, session.user, team=team, family=family, status=status, sort=sort)
        shown = f"team={team or 'all'} family={family or 'all'} status={status} sort={sort} rows={len(rows)}"
        audit(request, session.user.name, "view_queue", "queue", shown)
        context = {
            "title": "Queue",
            "nav": "queue",
            "rows": rows,
            "options": queries.queue_options(store, session.user),
            "filters": {"team": team or "", "family": family or "", "status": status, "sort": sort},
            "recorded": bool(recorded),
            "run": store.run(),
        }
        return page(request, "queue.html", context, session)

    def flag_page(
        request: Request,
        session: auth.Session,
        flag_id: str,
        status: int = 200,
        audit_view: bool = True,
        **extra: Any,
    ) -> Response:
        """The flag page; `audit_view` False when it comes back after a failed decision (audited so)."""
        flag = queries.flag_detail(store, session.user, flag_id)
        if flag is None:
            audit(
                request,
                session.user.name,
                "view_flag_refused",
                f"flag:{flag_id[:64]}",
                "not found or not allowed",
            )
            raise HTTPException(404)
        if audit_view:
            audit(
                request, session.user.name, "view_flag", f"flag:{flag_id}", f"pseudonym:{flag['person_id']}"
            )
        context = {
            "title": f"Flag for {flag['person_id']}",
            "nav": "queue",
            "flag": flag,
            "family_chart": charts.family_bars(flag["families"]),
            "outcome_chart": charts.outcome_lines(curve) if (curve := flag["outcome_risks"]) else None,
            "outcome_sentence": risk_sentence(curve) if curve else None,
            "outcome_table": (
                [(outcome_label(o), [percent(v) for v in values]) for o, values in curve.risks.items()]
                if curve
                else []
            ),
            "signal_charts": [
                (s, charts.signal_line(s, f"signal-{i}")) for i, s in enumerate(flag["series"])
            ],
            "error": None,
            "note": "",
            "chosen": "",
            **extra,
        }
        return page(request, "flag.html", context, session, status)

    @app.get("/flags/{flag_id}", response_class=HTMLResponse)
    def show_flag(request: Request, flag_id: str, session: Current) -> Response:
        return flag_page(request, session, flag_id)

    def kept_note(
        request: Request, session: auth.Session | None, note: str, status: int, message: str, link: str
    ) -> Response:
        context = {"title": "Not recorded", "message": message, "note": note, "link": link}
        return page(request, "kept_note.html", context, session, status)

    @app.post("/flags/{flag_id}/decision")
    def decide(request: Request, flag_id: str, form: Form) -> Response:
        decision = form.get("decision", "")
        # Browsers send line breaks as CR LF but count them as one character against maxlength.
        note = form.get("note", "").replace("\r\n", "\n").strip()
        session = session_or_none(request)
        if session is None:
            if not note:
                raise LoginRequiredError
            message = (
                "Your session has ended, so the decision was not recorded. Copy your note, log in "
                "again and record it."
            )
            return kept_note(request, None, note, 401, message, "/login")
        target = f"flag:{flag_id[:64]}"

        def refuse(reason: str, status: int, error: str) -> Response:
            audit(request, session.user.name, "decision_failed", target, reason)
            return flag_page(
                request, session, flag_id, status, audit_view=False, error=error, note=note, chosen=decision
            )

        if queries.flag_detail(store, session.user, flag_id) is None:
            audit(request, session.user.name, "decision_failed", target, "not found or not allowed")
            raise HTTPException(404)
        if not csrf_ok(form, session.csrf_token):
            expired = (
                "This form has expired or did not come from this page. Your note is kept: record "
                "the decision again."
            )
            return refuse("form expired", 403, expired)
        if decision not in DECISIONS:
            return refuse("no decision chosen", 400, "Choose a decision.")
        if not note:
            return refuse("no note", 400, "Write a note: what you decided and why, in a sentence or two.")
        if len(note) > MAX_NOTE_CHARS:
            too_long = f"Keep the note to {MAX_NOTE_CHARS:,} characters; it has {len(note):,}."
            return refuse("note too long", 400, too_long)
        try:
            store.add_review(flag_id, decision, note, session.user.name, client=client_of(request))
        except (KeyError, SQLAlchemyError) as exc:  # the flag went, or the store is locked or down
            with contextlib.suppress(SQLAlchemyError):
                audit(
                    request,
                    session.user.name,
                    "decision_failed",
                    target,
                    f"not stored ({type(exc).__name__})",
                )
            message = "The decision could not be stored. Copy your note and try again in a moment."
            return kept_note(request, session, note, 503, message, f"/flags/{flag_id}")
        return RedirectResponse("/?recorded=1", status_code=303)

    @app.get("/teams", response_class=HTMLResponse)
    def teams_page(request: Request, session: Current) -> Response:
        overview = queries.teams_overview(store, session.user, anonymity_threshold, catalog)
        trends = {
            row["team_id"]: charts.trend_line(row["trend"], f"trend-{i}")
            for i, row in enumerate(overview["rows"])
        }
        context = {"title": "Teams", "nav": "teams", "overview": overview, "trends": trends}
        audit(request, session.user.name, "view_teams", "teams", f"teams shown={len(overview['rows'])}")
        return page(request, "teams.html", context, session)

    @app.get("/model", response_class=HTMLResponse)
    def model_page(request: Request, session: Current) -> Response:
        from models.card import METRIC_LABELS, format_metric

        overview = queries.model_overview(store, session.user, anonymity_threshold, catalog)
        audit(request, session.user.name, "view_model", "model")
        card = render_markdown(str(overview["model"].get("card") or "")) if overview else Markup("")
        context = {
            "title": "Model",
            "nav": "model",
            "overview": overview,
            "card": card,
            "metric_label": lambda m: METRIC_LABELS.get(m, m.replace("_", " ").capitalize()),
            "metric_value": format_metric,
        }
        return page(request, "model.html", context, session)

    return app
