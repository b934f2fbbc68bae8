"""The review page on a store that a real nightly wrote: the queue and a flag's page show the flags'
pseudonyms and their reasons in words, and never a raw identifier of the landing folder's source."""

from __future__ import annotations

from pathlib import Path

import pytest
from markupsafe import escape
from review_helpers import PASSWORD, TestClient, fast_hashing, log_in
from trained_world import NightlyRun, TrainedWorld, copy_home

from flows.store import FlagStore, default_url
from review import auth
from review.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_review_page_shows_a_real_nightlys_flags_by_pseudonym_with_their_reasons(
    trained_world: TrainedWorld, nightly_run: NightlyRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast_hashing(monkeypatch)
    # A copy: the pages write audit entries, and the session's nightly home stays as the nightly left it.
    store = FlagStore(default_url(copy_home(nightly_run.home, tmp_path)))
    try:
        run = store.run()
        assert run is not None
        flags = store.run_flags(run["run_id"]).sort("rank")
        reasons = store.run_reasons(run["run_id"])
        assert flags.height > 0 and reasons.height > 0
        auth.add_user(store, "ana", "analyst", sorted(set(flags["team_id"])), PASSWORD)
        client = TestClient(create_app(store))
        log_in(client, "ana")

        queue = client.get("/")
        assert queue.status_code == 200, queue.text
        shown = queue.text
        assert all(f'">{pseudonym}</a>' in shown for pseudonym in flags["person_id"]), "every flag is listed"
        reasoned = flags.filter(flags["flag_id"].is_in(reasons["flag_id"].unique().to_list()))
        flag = reasoned.row(0, named=True)  # the highest-ranked flag with reasons in words
        sentences = reasons.filter(reasons["flag_id"] == flag["flag_id"]).sort("rank")["sentence"].to_list()
        assert escape(sentences[0]) in shown, "the queue gives each flag's top reasons"

        page = client.get(f"/flags/{flag['flag_id']}")
        assert page.status_code == 200, page.text
        assert f'Flag for <span class="pseudonym">{flag["person_id"]}</span>' in page.text
        assert all(escape(sentence) in page.text for sentence in sentences)
        assert "What drives the risk estimate" in page.text  # the family chart from the stored SHAP shares

        for text in (shown, page.text):
            assert not [raw for raw in trained_world.raw_ids if raw in text], "no raw identifier on a page"
        actions = set(store.audit_entries()["action"])
        assert {"view_queue", "view_flag"} <= actions
    finally:
        store.dispose()
