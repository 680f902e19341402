"""Task data is shown as text on every page: a scored set built from a records file whose ids,
definitions, inputs, outputs and categories hold HTML, Markdown, LaTeX, backticks, bare URLs and
very long strings (tests/dashboard/fixtures.hostile_records), with a model, a set, a run and a
policy named the same way. On Task map (hover, selection table), Task detail, Policies, Curate and
Compare, no element made from that text may exist in the DOM, and the text itself must be visible.
"""

from __future__ import annotations

import json

import pytest

from tests.dashboard.e2e import (
    box_select,
    go_to,
    hover_text,
    legend_text,
    markup_from,
    open_app,
    shot,
    table_column,
    visible_text,
    wait_charts,
    wait_for_text,
    wait_idle,
)
from tests.dashboard.fixtures import (
    HOSTILE_MODEL,
    HOSTILE_POLICY,
    HOSTILE_RUN,
    HOSTILE_SET,
    INJECTED_WORDS,
    LONG_ID,
    hostile_records,
    make_hostile_home,
)

pytestmark = pytest.mark.browser

BOLD_ID = '<b class="inj">injbold</b>'


def no_markup(page, where: str) -> None:
    wait_idle(page)
    wait_charts(page)
    found = markup_from(page, INJECTED_WORDS)
    assert not found, f"{where}: task text became markup: {found[:10]}"


def choose(page, label: str, option: str) -> None:
    """Pick an option of a select box by typing it into its search."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).first
    box.locator("input").click()
    page.keyboard.type(option)
    page.keyboard.press("Enter")
    wait_idle(page)


def test_task_data_stays_text_on_every_page(app_server, page, tmp_path):
    home = make_hostile_home(tmp_path / "home")
    ids = list(home.tasks["task_id"])
    records = {r["id"]: r for r in hostile_records()}
    server = app_server(home.root)

    # --- Task map: caption, hover, selection table
    open_app(page, server)
    page.wait_for_selector(".js-plotly-plot")
    no_markup(page, "Task map")
    text = visible_text(page)
    assert HOSTILE_SET in text and HOSTILE_MODEL.split(" $")[0] in text
    for task_id in ids:
        hover = hover_text(page, task_id)
        assert task_id in hover, (task_id, hover)  # Plotly drew the id as its characters
    hover_text(page, BOLD_ID)
    no_markup(page, "Task map hover")
    shot(page, "40_text_task_map_hover")

    box_select(page, (0.01, 0.01), (0.99, 0.99))
    wait_for_text(page, f"{len(ids)} selected tasks")
    wait_idle(page)
    assert set(table_column(page, 0)) == set(ids)
    no_markup(page, "Task map selection")
    shot(page, "41_text_selection")

    # --- Task detail: title, categories, definition, perturbations, chart legend, instances
    page.get_by_role("button", name="Open the first in Task detail").click()
    page.wait_for_selector('h1:has-text("Task detail")')
    for task_id, name in ((BOLD_ID, "42_text_task_detail"), (LONG_ID, "43_text_task_detail_long_id")):
        choose(page, "task", task_id)
        wait_charts(page)
        assert page.locator(".task-title code").first.text_content() == task_id
        record = records[task_id]
        text = visible_text(page)
        assert record["instruction"].split("\n")[0] in text
        assert record["categories"][1] in text and HOSTILE_SET in text
        assert f"{task_id}-0" in legend_text(page)
        inputs = table_column(page, 1)
        assert any(i.startswith(record["instances"][1]["input"].strip()) for i in inputs), inputs
        no_markup(page, f"Task detail of {task_id[:30]}")
        # long strings wrap: nothing widens the page
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
        shot(page, name)

    # --- Policies: caption, picks, highlighted map
    go_to(page, "Policies")
    wait_charts(page)
    assert HOSTILE_SET in visible_text(page)
    picks = table_column(page, 1)
    assert picks and set(picks) <= set(ids)
    assert picks[0] in hover_text(page, picks[0])
    no_markup(page, "Policies")
    shot(page, "44_text_policies")

    # --- Curate: the map selection in the editor
    go_to(page, "Curate")
    page.get_by_role("button", name=f"Add the map selection ({len(ids)})").click()
    wait_for_text(page, f"{len(ids)} task(s) added from the map")
    wait_idle(page)
    assert set(table_column(page, 1)) == set(ids)
    no_markup(page, "Curate")
    shot(page, "45_text_curate")

    # --- Compare: a run and a policy named with markup; the drift map and its caption
    go_to(page, "Compare")
    wait_charts(page)
    assert HOSTILE_POLICY in legend_text(page)
    text = visible_text(page)
    assert f"runs per policy: {HOSTILE_POLICY}: 1" in text and HOSTILE_RUN in text
    no_markup(page, "Compare")
    shot(page, "46_text_compare")
    page.get_by_role("tab", name="Map drift").click()
    wait_for_text(page, "this round selected")
    wait_charts(page)
    picked = json.loads((home.loop_runs[0].round_dir(0) / "selection.json").read_text())["task_ids"]  # round 0 shown
    caption = visible_text(page)
    assert all(task_id in caption for task_id in picked), (picked, caption[-2000:])
    assert f"{HOSTILE_RUN}: start of round" in page.locator(".js-plotly-plot .gtitle").first.text_content()
    no_markup(page, "Compare, map drift")
    shot(page, "47_text_compare_drift")
