"""What the review page keeps: every view in the audit with its client, typed notes, team-scoped counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from review_helpers import ANALYST_TEAMS, TestClient, csrf_of, fast_hashing, log_in, make_store

from features.catalog import load_catalog
from flows import audit
from flows.store import FlagStore
from flows.store_schema import flags
from review.app import create_app
from review.sample import SampleOrg

pytestmark = pytest.mark.code

ANALYST_ADDRESS = ("10.1.2.3", 51000)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FlagStore, SampleOrg]:
    fast_hashing(monkeypatch)
    return make_store(tmp_path)


@pytest.fixture
def analyst(world: tuple[FlagStore, SampleOrg]) -> TestClient:
    client = TestClient(create_app(world[0]), client=ANALYST_ADDRESS)
    log_in(client, "ana")
    return client


def latest_flag_id(store: FlagStore) -> str:
    with store.engine.connect() as connection:
        return str(
            connection.execute(
                sa.select(flags.c.flag_id)
                .where(flags.c.team_id.in_(ANALYST_TEAMS))
                .order_by(flags.c.as_of.desc(), flags.c.rank)
            ).scalar()
        )


def entries(store: FlagStore) -> list[tuple[str, str, str, str]]:
    return [tuple(r) for r in store.audit_entries().select("actor", "action", "target", "client").rows()]  # type: ignore[misc]


def textarea(html: str) -> str:
    found = re.search(r"<textarea[^>]*>(.*?)</textarea>", html, re.S)
    assert found, "the page has no note field"
    return found.group(1)


# --- item 13: the audit sees every page and where it was asked from ------------------------------


def test_queue_teams_and_model_views_are_audited_with_the_client_address(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    for path in ("/?team=t02&status=all", "/teams", "/model"):
        assert analyst.get(path).status_code == 200
    logged = entries(store)
    assert ("ana", "login_success", "login", "10.1.2.3") in logged
    assert ("ana", "view_queue", "queue", "10.1.2.3") in logged
    assert ("ana", "view_teams", "teams", "10.1.2.3") in logged
    assert ("ana", "view_model", "model", "10.1.2.3") in logged
    queue_entry = store.audit_entries().filter(action="view_queue").row(0, named=True)
    assert "team=t02" in queue_entry["detail"] and "status=all" in queue_entry["detail"]
    assert audit.verify(store.engine).problem is None, "the app and log-ins write one chain"


def test_a_failed_decision_is_audited_as_one_not_as_a_view(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    flag = latest_flag_id(store)
    token = csrf_of(analyst.get(f"/flags/{flag}").text)
    before = store.audit_entries().height
    response = analyst.post(f"/flags/{flag}/decision", data={"csrf": token, "decision": "other", "note": " "})
    assert response.status_code == 400
    added = entries(store)[before:]
    assert added == [("ana", "decision_failed", f"flag:{flag}", "10.1.2.3")]
    assert "no note" in store.audit_entries()["detail"][-1]


# --- item 15: notes count characters, and a typed note survives every error ----------------------


def test_a_note_of_4000_accented_characters_is_recorded(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    flag = latest_flag_id(store)
    token = csrf_of(analyst.get(f"/flags/{flag}").text)
    note = "é" * 4000
    response = analyst.post(
        f"/flags/{flag}/decision",
        data={"csrf": token, "decision": "other", "note": note},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]
    assert store.review_history()["note"].to_list() == [note]
    # Line breaks arrive as CR LF but count as one character, as the browser counted them.
    lines = "ligne\r\n" * 600  # 4,200 characters sent, 3,600 typed
    response = analyst.post(
        f"/flags/{flag}/decision",
        data={"csrf": token, "decision": "other", "note": lines},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert store.review_history()["note"][-1] == lines.replace("\r\n", "\n").strip()


def test_a_too_long_note_is_refused_and_kept(analyst: TestClient, world: tuple[FlagStore, SampleOrg]) -> None:
    store, _ = world
    flag = latest_flag_id(store)
    token = csrf_of(analyst.get(f"/flags/{flag}").text)
    note = "ü" * 4001
    response = analyst.post(
        f"/flags/{flag}/decision", data={"csrf": token, "decision": "other", "note": note}
    )
    assert response.status_code == 400 and "4,000 characters" in response.text
    assert textarea(response.text) == note
    assert store.review_history().height == 0


def test_an_expired_form_keeps_the_typed_note(
    analyst: TestClient, world: tuple[FlagStore, SampleOrg]
) -> None:
    store, _ = world
    flag = latest_flag_id(store)
    note = "Spoke with the lead <b>today</b>; a conversation is planned."
    response = analyst.post(
        f"/flags/{flag}/decision", data={"csrf": "from an older session", "decision": "other", "note": note}
    )
    assert response.status_code == 403
    assert (
        textarea(response.text) == "Spoke with the lead &lt;b&gt;today&lt;/b&gt;; a conversation is planned."
    )
    assert 'value="other" required checked' in response.text
    assert store.review_history().height == 0
    assert entries(store)[-1][:2] == ("ana", "decision_failed")


def test_a_decision_after_the_session_ended_keeps_the_typed_note(
    world: tuple[FlagStore, SampleOrg],
) -> None:
    store, _ = world
    flag = latest_flag_id(store)
    client = TestClient(create_app(store))  # no session: it ended, or the server restarted
    note = "Planned parental leave explains the quieter weeks."
    response = client.post(
        f"/flags/{flag}/decision",
        data={"csrf": "x", "decision": "other", "note": note},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert textarea(response.text) == note and 'href="/login"' in response.text
    assert store.review_history().height == 0


# --- item 14: the model page counts only decisions the analyst may see, and no small counts -------


def false_alarm_rows(html: str) -> dict[str, tuple[int, int]]:
    section = html.split('id="h-false"')[1].split("</section>")[0]
    rows = re.findall(
        r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td><td class="num">(\d+)</td>', section
    )
    return {label: (int(n), int(k)) for label, n, k in rows}


def test_model_page_counts_only_the_analysts_teams_and_hides_small_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More flags than the shared sample: enough that one family leads five of them in the
    # analyst's teams and another five elsewhere, whatever families the catalog holds.
    fast_hashing(monkeypatch)
    store, _ = make_store(tmp_path, flag_share=0.15)
    catalog = load_catalog()
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(flags.c.flag_id, flags.c.team_id, flags.c.leading_family)).all()
    mine = [(f, fam) for f, team, fam in rows if team in ANALYST_TEAMS]
    others = [(f, fam) for f, team, fam in rows if team not in ANALYST_TEAMS]
    elsewhere = next(fam for _, fam in others if sum(1 for _, g in others if g == fam) >= 5)
    for flag, _ in [(f, fam) for f, fam in others if fam == elsewhere][:5]:
        store.add_review(flag, "false_alarm", "Seen by an admin of that team.", "root")
    # The analyst's own flags of that family stay unreviewed: the five reviews elsewhere must not show.
    common = next(fam for _, fam in mine if fam != elsewhere and sum(1 for _, g in mine if g == fam) >= 5)
    for i, flag in enumerate([f for f, fam in mine if fam == common][:5]):
        store.add_review(flag, "false_alarm" if i < 2 else "conversation_planned", "Reviewed.", "ana")
    rare = next(fam for _, fam in mine if fam not in (common, elsewhere))
    store.add_review(next(f for f, fam in mine if fam == rare), "false_alarm", "Reviewed.", "ana")

    app = create_app(store)
    pages = {}
    for name in ("ana", "root"):
        client = TestClient(app)
        log_in(client, name)
        pages[name] = client.get("/model").text
    label = catalog.family
    assert false_alarm_rows(pages["ana"]) == {label(common).label: (5, 2)}
    assert false_alarm_rows(pages["root"]) == {label(common).label: (5, 2), label(elsewhere).label: (5, 5)}
    assert "1 family with fewer than 5 reviewed flags is not shown" in pages["ana"]
