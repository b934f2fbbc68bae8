"""Make the README's screenshots of the review app from a store of synthetic runs (headless Chromium).

Run from the project folder: `.venv/bin/python docs/screenshots/make.py` (needs /usr/bin/chromium).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from flows.store import FlagStore
from review import auth
from review.app import create_app
from review.sample import fill_sample_store
from review.testing import serving

HERE = Path(__file__).parent
PASSWORD = "screenshots only, never used"
TEAMS = {
    "t01": 9,
    "t02": 7,
    "t03": 12,
    "t04": 4,
    "t05": 6,
    "t06": 8,
    "t07": 3,
    "t08": 10,
    "t09": 14,
    "t10": 11,
}


def main(chromium: str = "/usr/bin/chromium") -> None:
    """Write queue.png and flag.png next to this script."""
    with tempfile.TemporaryDirectory() as folder:
        store = FlagStore(f"sqlite:///{Path(folder) / 'flags.db'}")
        today = date.today()
        monday = today - timedelta(days=today.weekday())
        fill_sample_store(store, team_sizes=TEAMS, runs=8, flag_share=0.05, last_week=monday)
        auth.add_user(store, "alex", "analyst", ["t01", "t02", "t03", "t05", "t08", "t09"], PASSWORD)
        latest = _flag_with_history(store, ["t01", "t02", "t03", "t05", "t08", "t09"])
        with serving(create_app(store)) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": 1200, "height": 900}, device_scale_factor=1)
            page.goto(f"{url}/login")
            page.get_by_label("User name").fill("alex")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.screenshot(path=str(HERE / "queue.png"), full_page=True)
            page.goto(f"{url}/flags/{latest}")
            page.screenshot(path=str(HERE / "flag.png"), full_page=True)
            browser.close()
    print(f"wrote {HERE / 'queue.png'} and {HERE / 'flag.png'}")


def _flag_with_history(store: FlagStore, teams: list[str]) -> str:
    """The latest flag of the most often flagged person, after a decision on their first flag."""
    import sqlalchemy as sa

    from flows.store_schema import flags

    query = (
        sa.select(flags.c.person_id, sa.func.count().label("n"))
        .where(flags.c.team_id.in_(teams))
        .group_by(flags.c.person_id)
        .order_by(sa.desc("n"), flags.c.person_id)
        .limit(1)
    )
    with store.engine.connect() as connection:
        person = connection.execute(query).scalar_one()
        ids = connection.execute(
            sa.select(flags.c.flag_id).where(flags.c.person_id == person).order_by(flags.c.as_of)
        ).scalars()
        ids = list(ids)
    store.add_review(ids[0], "not_a_concern", "Back from a long project abroad; settling in again.", "alex")
    return ids[-1]


if __name__ == "__main__":
    main(*sys.argv[1:])
