"""The review app's routes through FastAPI's test client: access, CSRF, decisions, anonymity, audit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from review_helpers import ANALYST_TEAMS, PASSWORD, TestClient, csrf_of, fast_hashing, log_in, make_store

from flows.store import FlagStore
from flows.store_schema import flags, reviews, runs
from review import auth, throttle
from review.app import SECURITY_HEADERS, create_app
from review.sample import SampleOrg

pytestmark = pytest.mark.code


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FlagStore, SampleOrg]:
    fast_hashing(monkeypatch)
    return make_store(tmp_path)


@pytest.fixture
def client(world: tuple[FlagStore, SampleOrg]) -> TestClient:
    return TestClient(create_app(world[0]))


@pytest.fixture
def analyst(client: TestClient) -> TestClient:
    log_in(client, "ana")
    return client


def flags_of(store: FlagStore, teams: tuple[str, ...] | None = None) -> list[dict[str, object]]:
    query = sa.select(flags.c.flag_id, flags.c.person_id, flags.c.team_id, flags.c.as_of)
    if teams is not None:
        query = query.where(flags.c.team_id.in_(teams))
    with store.engine.connect() as connection:
        return [dict(r) for r in connection.execute(query.order_by(flags.c.as_of.desc())).mappings()]


def latest_flag(store: FlagStore, teams: tuple[str, ...]) -> dict[str, object]:
    latest = store.run()
    assert latest is not None
    return next(f for f in flags_of(store, teams) if f["as_of"] == latest["as_of"])


def actions(store: FlagStore) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in store.audit_entries().select("actor", "action", "target").rows()]  # type: ignore[misc]


# --- log-in, cookies, CSRF ---------------------------------------------------------------------


def test_every_page_needs_a_session(client: TestClient, world: tuple[FlagStore, SampleOrg]) -> None:
    flag = flags_of(world[0])[0]
    for path in ("/", "/teams", "/model", f"/flags/{flag['flag_id']}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    response = client.post(f"/flags/{flag['flag_id']}/decision", data={"csrf": "x"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_log_in_sets_a_strict_http_only_session_cookie(
    client: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    page = client.get("/login")
    assert 'autocomplete="current-password"' in page.text and '<label for="password">' in page.text
    response = client.post(
        "/login",
        data={"name": "ana", "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("ewarn_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert ("ana", "login_success", "login") in actions(world[0])


def test_log_in_without_or_with_a_wrong_csrf_token_is_refused(
    client: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    client.get("/login")
    for data in (
        {"name": "ana", "password": PASSWORD},
        {"name": "ana", "password": PASSWORD, "csrf": "forged"},
    ):
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "expired" in response.text
    assert not any(a == "login_success" for _, a, _ in actions(world[0]))


def test_wrong_passwords_and_unknown_names_give_one_message_then_a_pause_and_are_audited(
    client: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    texts = set()
    for name in ["ana"] * throttle.ACCOUNT_FREE_FAILURES + ["nobody"]:
        page = client.get("/login")
        response = client.post(
            "/login", data={"name": name, "password": "not the password", "csrf": csrf_of(page.text)}
        )
        assert response.status_code == 401
        texts.add(re.search(r'role="alert"[^>]*>([^<]+)<', response.text).group(1))  # type: ignore[union-attr]
    assert texts == {"Wrong name or password."}
    page = client.get("/login")
    response = client.post("/login", data={"name": "ana", "password": PASSWORD, "csrf": csrf_of(page.text)})
    assert response.status_code == 429, "this client pauses, even with the right password"
    assert "Wait 30 seconds" in response.text and response.headers["retry-after"] == "30"
    logged = actions(world[0])
    assert [a for a in logged if a[1] == "login_failure"] == [("ana", "login_failure", "login")] * 5 + [
        (auth.UNKNOWN_ACTOR, "login_failure", "login")
    ]
    assert ("ana", "login_paused", "login") in logged


def test_log_out_ends_the_session_and_needs_the_csrf_token(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    token = csrf_of(analyst.get("/").text)
    assert analyst.post("/logout", data={"csrf": "forged"}).status_code == 403
    response = analyst.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert analyst.get("/", follow_redirects=False).status_code == 303
    assert ("ana", "logout", "login") in actions(world[0])


def test_forms_must_be_url_encoded(analyst: TestClient) -> None:
    response = analyst.post("/logout", content=b'{"csrf": "x"}', headers={"content-type": "application/json"})
    assert response.status_code == 415


# --- queue -------------------------------------------------------------------------------------


def test_analyst_queue_shows_only_their_teams_and_admin_sees_all(
    client: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    log_in(client, "ana")
    page = client.get("/").text
    shown = set(re.findall(r'href="/flags/([0-9a-f]+|f[0-9a-f]+)"', page))
    assert shown
    by_id = {f["flag_id"]: f for f in flags_of(store)}
    assert {by_id[f]["team_id"] for f in shown} <= set(ANALYST_TEAMS)
    other_people = {f["person_id"] for f in flags_of(store) if f["team_id"] not in ANALYST_TEAMS}
    assert not any(str(p) in page for p in other_people)
    admin = TestClient(client.app)
    log_in(admin, "root")
    everyone = set(re.findall(r'href="/flags/(f[0-9a-f]+)"', admin.get("/?status=all").text))
    assert {by_id[f]["team_id"] for f in everyone} - set(ANALYST_TEAMS)


def test_queue_has_one_row_per_pseudonym_with_band_reasons_and_weeks_flagged(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    page = analyst.get("/").text
    rows = re.findall(
        r"<tr>\s*<td><a class=\"pseudonym\" href=\"/flags/(f[0-9a-f]+)\">(p[0-9a-f]{24})</a>", page
    )
    people = [p for _, p in rows]
    assert rows and len(people) == len(set(people))
    assert re.search(r'class="band band-(elevated|high|very-high)"', page)
    assert "over the last 4 weeks, against a normal of" in page
    store, _ = world
    risks = {f["flag_id"]: r for f in flags_of(store) for r in [risk_of(store, str(f["flag_id"]))]}
    assert not any(str(risks[flag]) in page for flag, _ in rows), "a band, never the raw probability"


def test_queue_filters_by_team_family_and_status_and_sorts_by_age(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    by_id = {f["flag_id"]: f for f in flags_of(store)}

    def ids(query: str) -> list[str]:
        return re.findall(r'class="pseudonym" href="/flags/(f[0-9a-f]+)"', analyst.get("/" + query).text)

    assert {by_id[f]["team_id"] for f in ids("?team=t02")} == {"t02"}
    everything = ids("?status=all")
    families = {f: store_family(store, f) for f in everything}
    family = sorted(families.values())[0]
    assert {families[f] for f in ids(f"?family={family}&status=all")} == {family}
    assert ids("?status=false_alarm") == []
    assert sorted(ids("?sort=age")) == sorted(ids("?sort=risk"))
    waiting = re.findall(r"<td>(\d{4}-\d\d-\d\d)(?: <span|</td>)", analyst.get("/?sort=age").text)
    assert waiting and waiting == sorted(waiting), "longest waiting first"
    assert ids("?sort=nonsense&status=nonsense") == ids("")  # unknown values fall back, never fail
    assert ids("?team=t07") == []  # another team's filter shows nothing, rather than their flags


def risk_of(store: FlagStore, flag_id: str) -> float:
    with store.engine.connect() as connection:
        return connection.execute(sa.select(flags.c.risk).where(flags.c.flag_id == flag_id)).scalar_one()


def store_family(store: FlagStore, flag_id: str) -> str:
    with store.engine.connect() as connection:
        return connection.execute(
            sa.select(flags.c.leading_family).where(flags.c.flag_id == flag_id)
        ).scalar_one()


# --- flag page and access ----------------------------------------------------------------------


def test_flag_page_explains_and_is_audited(analyst: TestClient, world: tuple[FlagStore, SampleOrg]) -> None:
    store, _ = world
    flag = latest_flag(store, ANALYST_TEAMS)
    page = analyst.get(f"/flags/{flag['flag_id']}")
    assert page.status_code == 200
    text = page.text
    assert str(flag["person_id"]) in text
    assert text.count("<svg") >= 2 and "What drives the estimate" in text
    assert "Key signals against their own normal" in text and "Conversation prompts" in text
    assert "ewarn-risk version 3" in text and "Earlier flags" in text
    for decision in ("conversation_planned", "not_a_concern", "false_alarm", "other"):
        assert f'value="{decision}"' in text
    assert '<label for="note">' in text and "required" in text
    assert ("ana", "view_flag", f"flag:{flag['flag_id']}") in actions(store)


def test_a_flag_of_another_team_is_404_exactly_like_a_missing_one(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    other = next(f for f in flags_of(store) if f["team_id"] not in ANALYST_TEAMS)
    forbidden = analyst.get(f"/flags/{other['flag_id']}")
    missing = analyst.get("/flags/f00000000000000000000")
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.text == missing.text
    assert dict(forbidden.headers) == dict(missing.headers) | {
        "content-length": forbidden.headers["content-length"]
    }
    assert str(other["person_id"]) not in forbidden.text
    refused = [a for a in actions(store) if a[1] == "view_flag_refused"]
    assert len(refused) == 2
    # Deciding on it is refused the same way, and nothing is stored.
    token = csrf_of(analyst.get("/").text)
    response = analyst.post(
        f"/flags/{other['flag_id']}/decision", data={"csrf": token, "decision": "other", "note": "x"}
    )
    assert response.status_code == 404 and response.text == missing.text
    assert store.review_history().height == 0


def test_admin_opens_any_flag(client: TestClient, world: tuple[FlagStore, SampleOrg]) -> None:
    log_in(client, "root")
    other = next(f for f in flags_of(world[0]) if f["team_id"] not in ANALYST_TEAMS)
    assert client.get(f"/flags/{other['flag_id']}").status_code == 200


# --- decisions ---------------------------------------------------------------------------------


def test_a_decision_needs_csrf_and_a_note_then_leaves_the_queue(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    flag = latest_flag(store, ANALYST_TEAMS)
    url = f"/flags/{flag['flag_id']}"
    token = csrf_of(analyst.get(url).text)
    assert analyst.post(f"{url}/decision", data={"decision": "other", "note": "n"}).status_code == 403
    forged = {"csrf": "forged", "decision": "other", "note": "n"}
    assert analyst.post(f"{url}/decision", data=forged).status_code == 403
    empty = analyst.post(f"{url}/decision", data={"csrf": token, "decision": "false_alarm", "note": "   "})
    assert empty.status_code == 400 and "Write a note" in empty.text
    assert 'id="d-false_alarm" name="decision" value="false_alarm" required checked' in empty.text
    bad = analyst.post(f"{url}/decision", data={"csrf": token, "decision": "fire them", "note": "x"})
    assert bad.status_code == 400
    assert store.review_history().height == 0
    assert f'href="{url}"' in analyst.get("/").text

    note = "Talked with the team lead; a conversation about growth is planned for next week."
    response = analyst.post(
        f"{url}/decision",
        data={"csrf": token, "decision": "conversation_planned", "note": note},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/?recorded=1"
    history = store.review_history().row(0, named=True)
    assert (history["flag_id"], history["decision"], history["note"], history["reviewer"]) == (
        flag["flag_id"],
        "conversation_planned",
        note,
        "ana",
    )
    assert history["decided_at"]
    queue = analyst.get("/?recorded=1").text
    assert "Decision recorded" in queue and f'href="{url}"' not in queue
    assert f'href="{url}"' in analyst.get("/?status=conversation_planned").text
    assert ("ana", "decision", f"flag:{flag['flag_id']}") in actions(store)
    # The flag page now shows the decision with its note and reviewer.
    page = analyst.get(url).text
    assert note in page and "Conversation planned" in page


def test_notes_are_escaped(analyst: TestClient, world: tuple[FlagStore, SampleOrg]) -> None:
    store, _ = world
    flag = latest_flag(store, ANALYST_TEAMS)
    url = f"/flags/{flag['flag_id']}"
    token = csrf_of(analyst.get(url).text)
    analyst.post(f"{url}/decision", data={"csrf": token, "decision": "other", "note": "<script>x()</script>"})
    page = analyst.get(url).text
    assert "<script>" not in page and "&lt;script&gt;" in page


# --- teams -------------------------------------------------------------------------------------


def team_rows(html: str) -> list[str]:
    return re.findall(r'<tr><th scope="row">(t[0-9]+)</th>', html)


def test_teams_page_hides_small_teams_for_admins(client: TestClient) -> None:
    log_in(client, "root")
    page = client.get("/teams").text
    shown = team_rows(page)
    # t04 (4) and t07 (3) are under 5 people; together they hold 7, so nothing else need go.
    assert shown == ["t01", "t02", "t03", "t05", "t06", "t08"]
    assert "All my teams" in page and "2 of your teams are not shown" in page


def test_teams_page_hides_the_next_smallest_where_one_hidden_team_could_be_derived(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch)
    store, _ = make_store(tmp_path, team_sizes={"t01": 3, "t02": 6, "t03": 9, "t05": 12})
    app = create_app(store)
    auth.add_user(store, "cat", "analyst", ["t01"], PASSWORD)
    pages = {}
    for name in ("root", "ana", "cat"):
        client = TestClient(app)
        log_in(client, name)
        pages[name] = client.get("/teams").text
    assert team_rows(pages["root"]) == ["t03", "t05"]  # t01 small, t02 next-smallest
    # An analyst of t01, t02 and t03 sees, beside a total, only t03.
    assert team_rows(pages["ana"]) == ["t03"] and "All my teams" in pages["ana"]
    # An analyst of a small team alone sees neither the team nor a total.
    page = pages["cat"]
    assert team_rows(page) == [] and "All my teams" not in page


def test_teams_trend_leaves_out_runs_where_a_team_was_hidden(client: TestClient) -> None:
    log_in(client, "root")
    page = client.get("/teams").text
    assert page.count('class="chart"') == len(team_rows(page))


# --- model -------------------------------------------------------------------------------------


def test_model_page_shows_champion_metrics_fairness_card_and_false_alarms(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    run = store.run()
    assert run is not None
    details = dict(run["details"])
    details["model"] = {
        **details["model"],
        "card": details["model"]["card"] + "\n<script>alert(1)</script>\n",
    }
    with store.engine.begin() as connection:
        connection.execute(
            sa.update(runs).where(runs.c.run_id == run["run_id"]).values(details=json.dumps(details))
        )
    flag = latest_flag(store, ANALYST_TEAMS)
    store.add_review(str(flag["flag_id"]), "false_alarm", "Planned parental leave, not withdrawal.", "ana")
    page = analyst.get("/model").text
    assert "ewarn-risk version 3" in page
    assert "Average precision" in page and "0.272" in page and "0.134" in page  # ours and the naive reference
    assert "audit_gender" in page and "Fairness audit" in page
    assert "<h3>Model card: ewarn-risk</h3>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    # One review is too few to show (see test_review_records for the counts).
    assert "1 family with fewer than 5 reviewed flags is not shown" in page


# --- privacy and hygiene -----------------------------------------------------------------------


def test_pages_hold_pseudonyms_only_and_nothing_from_elsewhere(
    client: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    log_in(client, "root")
    flag = flags_of(store)[0]
    known = {str(f["person_id"]) for f in flags_of(store)}
    for path in ("/", "/?status=all", "/teams", "/model", f"/flags/{flag['flag_id']}"):
        response = client.get(path)
        html = response.text
        assert set(re.findall(r"\bp[0-9a-f]{24}\b", html)) <= known, path
        assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", html), f"{path}: something like an e-mail address"
        assert not re.search(r"(src|href)=\"(https?:)?//", html), f"{path}: loads something from elsewhere"
        assert "/flags/p" not in html, f"{path}: a pseudonym in a URL"
        for header, value in SECURITY_HEADERS.items():
            assert response.headers[header] == value
    css = client.get("/static/style.css")
    assert css.status_code == 200 and "@import" not in css.text and "url(" not in css.text


def test_no_api_documentation_or_schema_is_served(analyst: TestClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert analyst.get(path).status_code == 404


def test_audit_log_only_grows(analyst: TestClient, world: tuple[FlagStore, SampleOrg]) -> None:
    store, _ = world
    before = store.audit_entries()
    flag = latest_flag(store, ANALYST_TEAMS)
    analyst.get(f"/flags/{flag['flag_id']}")
    after = store.audit_entries()
    assert after.height == before.height + 1
    assert after.head(before.height).equals(before)
    with store.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(reviews)).scalar() == 0


def test_an_empty_store_gives_pages_that_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_hashing(monkeypatch)
    store = FlagStore(f"sqlite:///{tmp_path / 'empty.db'}")
    auth.add_user(store, "root", "admin", [], PASSWORD)
    client = TestClient(create_app(store))
    log_in(client, "root")
    assert "No nightly run has written flags yet" in client.get("/").text
    assert "No nightly run has written team counts yet" in client.get("/teams").text
    assert "no champion model to describe" in client.get("/model").text
