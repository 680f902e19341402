"""Every page opened by its own address (a reload, a bookmark, a pasted link) runs through app.py:
the same grouped navigation, wide layout and sidebar footer as when it is reached by a click.

Streamlit decides once per server process, when the first session starts, whether the app uses
its old automatic multipage mode (a `pages/` folder next to the entry point); in that mode a page
opened by its address runs on its own. So the first request of a fresh server here is a deep link.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.e2e import app_frame, open_url, shot, wait_for_text
from tests.dashboard.fixtures import make_home

pytestmark = pytest.mark.browser

APP_DIR = Path(__file__).resolve().parents[2] / "dashboard"
SECTIONS = ["Explore", "Run", "Results"]
LINKS = ["Task map", "Task detail", "Policies", "Curate", "Score", "Train", "Findings", "Compare", "Overview"]
# address -> the page's title; /compare first, as the first request of the fresh server
ADDRESSES = {"compare": "Compare", "findings": "Findings", "task_detail": "Task detail", "policies": "Policies",
             "curate": "Curate", "score": "Score tasks", "train": "Train", "overview": "Overview", "": "Task map"}


def test_no_pages_folder_next_to_the_entry_point():
    """A `pages/` folder beside app.py (even one holding only __pycache__) would switch Streamlit
    back to its automatic multipage mode; the page scripts live in views/."""
    assert not (APP_DIR / "pages").exists()
    assert (APP_DIR / "views").is_dir()


def assert_inside_the_app(page, title: str) -> None:
    page.wait_for_selector(f'h1:has-text("{title}")')
    page.locator('[data-testid="stSidebar"]').get_by_text("Project home:").wait_for()  # drawn after the page
    frame = app_frame(page)
    assert frame["sections"] == SECTIONS, frame
    assert frame["links"] == LINKS, frame  # no "app" page, no file names
    assert frame["main_max_width"] == "none" and frame["main_width"] > 900, frame  # layout="wide"
    assert frame["footer"] and frame["exceptions"] == 0, frame


def test_every_page_opens_by_its_address(app_server, page, tmp_path):
    home = make_home(tmp_path / "home")  # a scored set and runs: every page has something to draw
    server = app_server(home.root)
    for address, title in ADDRESSES.items():
        open_url(page, server, address)
        assert_inside_the_app(page, title)
        shot(page, f"30_address_{address or 'root'}")
        page.reload()
        assert_inside_the_app(page, title)  # a reload shows the same page as the click did


def test_an_unknown_address_lands_on_the_task_map(app_server, page, tmp_path):
    home = make_home(tmp_path / "home", runs=False)
    server = app_server(home.root)
    open_url(page, server, "no_such_page")
    assert_inside_the_app(page, "Task map")
    wait_for_text(page, "Page not found")
    shot(page, "31_address_unknown")
