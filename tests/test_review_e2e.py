"""End to end in a real headless Chromium: log in, open a flag, decide, see it leave the queue.

Drives Debian's `chromium` (/usr/bin/chromium) through Playwright for Python; `.ci/run` installs
it. Without the browser the test is skipped, unless EWARN_REQUIRE_BROWSER=1 (as in CI), where a
missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from review_helpers import PASSWORD, fast_hashing, make_store

from review.app import create_app
from review.testing import serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = os.environ.get("EWARN_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("EWARN_REQUIRE_BROWSER") == "1"


def _browser_or_skip() -> None:
    problem = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is not installed (pip install -r requirements-dev.lock)"
    if problem and REQUIRED:
        pytest.fail(f"EWARN_REQUIRE_BROWSER=1 but {problem}")
    if problem:
        pytest.skip(problem)


def test_review_a_flag_in_a_real_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    fast_hashing(monkeypatch)
    store, _ = make_store(tmp_path)
    with serving(create_app(store)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/")
            expect(page).to_have_url(f"{url}/login")
            page.get_by_label("User name").fill("ana")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Queue")).to_be_visible()

            first = page.locator("a.pseudonym").first
            pseudonym = first.inner_text()
            first.click()
            expect(page.get_by_role("heading", name=f"Flag for {pseudonym}")).to_be_visible()
            expect(page.get_by_role("img", name="What drives the risk estimate, by family")).to_be_visible()
            flag_url = page.url

            # The browser itself refuses a decision without a note (the server would too).
            page.get_by_label("False alarm").check()
            page.get_by_role("button", name="Record decision").click()
            assert page.url == flag_url
            page.get_by_label("Note (required)").fill("Planned parental leave explains the quieter weeks.")
            page.keyboard.press("Tab")
            page.get_by_role("button", name="Record decision").click()

            expect(page.get_by_role("status")).to_contain_text("Decision recorded")
            expect(page.locator("a.pseudonym", has_text=pseudonym)).to_have_count(0)
            page.screenshot(path=str(tmp_path / "queue-after-decision.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "queue-after-decision.png").stat().st_size > 10_000
    decisions = store.review_history()
    assert decisions.height == 1 and decisions["decision"][0] == "false_alarm"
    assert {"login_success", "view_flag", "decision"} <= set(store.audit_entries()["action"])
