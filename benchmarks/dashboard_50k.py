"""How the dashboard's task map copes with 50,000 tasks.

    python -m benchmarks.dashboard_50k [--n 50000] [--repeat 3]

Builds a scored set of N tasks whose ids and text come from the Alpaca-cleaned records in
../shared/data/alpaca_cleaned (one instruction = one task), with **synthetic** PU/PP/perplexity
drawn from a fixed-seed distribution shaped like the paper's map: scoring 50K tasks for real
takes hours on a CPU, and the map's cost does not depend on where the numbers came from. The
manifest says so ("synthetic": true, model "synthetic scores (not a model)").

Then it times, and prints as a table (with the CPU model and the load average before and after):
  * the figure alone: region rule + core.figures.map.map_figure, and Plotly's JSON encoding
    (what st.plotly_chart does on every rerun);
  * the Task map page in Streamlit's AppTest: first render (cold caches), a rerun with nothing
    changed (cached figure), and a rerun after changing a filter;
  * in headless Chromium against `streamlit run` (skip with --no-browser): opening the Task map
    until all points are drawn, and a box selection until the selected-tasks table shows rows.
Timings are medians of --repeat runs, never asserted anywhere; take them on an idle machine (the
load average is printed with them). Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TASKMAP_SHARED", REPO.parent / "shared"))
ALPACA = SHARED / "data" / "alpaca_cleaned" / "alpaca_cleaned_subset.json"
CATEGORIES = ("Question Answering", "Text Generation", "Classification", "Rewriting", "Brainstorming",
              "Summarization", "Information Extraction", "Mathematics", "Code", "Open QA")
SEQUENCE_COLUMNS = ["task_id", "instance_id", "perturbation", "definition", "definition_dropped", "example_inputs",
                    "input", "gold", "prediction", "n_tokens", "mean_logprob", "prob", "truncated"]


def _records(n: int, path: Path | None) -> list[dict]:
    if path is not None and path.is_file():
        records = json.loads(path.read_text())
        if len(records) < n:  # repeat with new ids when asked for more than the file holds
            records = [records[i % len(records)] for i in range(n)]
        return records[:n]
    return [{"instruction": f"Synthetic instruction number {i}.", "input": "", "output": "x"} for i in range(n)]


def build_synthetic_set(out_dir: Path, n: int = 50_000, records_path: Path | None = ALPACA, seed: int = 0) -> Path:
    """A scored set with N tasks (ids and text from Alpaca records) and synthetic scores."""
    from core.config import RegionRule
    from core.taskmap.regions import assign_regions
    from core.taskmap.results import write_result

    rng = np.random.default_rng(seed)
    records = _records(n, records_path)
    outputs = [str(r.get("output", "")) for r in records]
    tasks = pd.DataFrame({
        "task_id": [f"alpaca-{i:05d}" for i in range(n)],
        "kind": np.where([len(o.split()) <= 2 for o in outputs], "classification", "generation"),
        "categories": [[CATEGORIES[i % len(CATEGORIES)]] for i in range(n)],
        "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(n)],
        "definition": [str(r.get("instruction", "")) for r in records],
        "n_available": 1,
        "source": str(records_path) if records_path else "synthetic",
    })
    # synthetic scores: most tasks prompt-certain, a long tail of prompt-sensitive ones
    pu = np.clip(rng.gamma(1.3, 0.03, n), 0, 0.9)
    pp = np.clip(rng.beta(4.0, 2.0, n) - 0.6 * pu, 0.01, 0.999)
    tasks["pu"], tasks["pp"], tasks["perplexity"] = pu, pp, 1.0 / pp
    tasks["pu_sem"] = pu / 5
    tasks["n_instances"], tasks["n_perturbations"], tasks["n_sequences"] = 1, 10, 11
    tasks["mean_pred_tokens"], tasks["n_truncated"] = 40.0, 0
    tasks["region"] = assign_regions(tasks, RegionRule())
    manifest = {"synthetic": True, "note": "ids and text from Alpaca-cleaned records; PU/PP/perplexity are synthetic",
                "model": {"name": "synthetic scores (not a model)"}, "config": {}, "sources": [str(records_path)],
                "n_tasks": n, "skipped": [], "region_rule": vars(RegionRule()), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    out = Path(out_dir)
    write_result(out, tasks, pd.DataFrame(columns=SEQUENCE_COLUMNS), manifest)
    return out


def _time(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


# --- in the browser ----------------------------------------------------------------------------

WAIT_DRAWN = """(n) => { const gd = document.querySelector('.js-plotly-plot');
    return !!(gd && gd._fullData) && gd._fullData.reduce((m, t) => m + (t.x ? t.x.length : 0), 0) >= n; }"""
WAIT_TABLE = """(before) => [...document.querySelectorAll('h3')].some(h => /^[1-9]\\d* selected tasks/.test(h.innerText)
                                                            && h.innerText !== before)
    && !!document.querySelector('[data-testid="stDataFrame"] [data-testid^="glide-cell-0-"]')
    && !document.querySelector('[data-stale="true"]')"""


SMALL_BOX = ((0.7, 0.05), (0.99, 0.6))  # the high-PU corner: the selection the browser test makes
LARGE_BOX = ((0.02, 0.02), (0.98, 0.98))


def drag_box(page, frac_from: tuple[float, float], frac_to: tuple[float, float]):
    """Press and drag a selection box over the map (corners as fractions of the plot area) and wait
    until the browser has drawn the dragged selection; returns the mouse position to release at."""
    area = page.locator(".js-plotly-plot").first.locator(".nsewdrag").first.bounding_box()
    start = (area["x"] + frac_from[0] * area["width"], area["y"] + frac_from[1] * area["height"])
    end = (area["x"] + frac_to[0] * area["width"], area["y"] + frac_to[1] * area["height"])
    page.mouse.move(*start)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(start[0] + (end[0] - start[0]) * step / 10, start[1] + (end[1] - start[1]) * step / 10)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r))))")


def browser_timings(home: Path, n: int, repeat: int) -> list[tuple[str, list[float]]]:
    """Seconds, in headless Chromium against `streamlit run`: from opening the Task map until all
    n points are drawn, in a new browser session (no cached scripts; the very first one after the
    server starts also pays the server's cold caches) and on a reload of the same tab; and from
    releasing a box selection until the selected-tasks table shows its rows (the drag itself is
    drawn before the clock starts). Needs Debian's /usr/bin/chromium (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    from tests.dashboard.e2e import CHROMIUM, CHROMIUM_ARGS, start_server

    server = start_server(home)
    cold, fresh, reload, select, select_large, counts = [], [], [], [], [], {}
    idle = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for i in range(repeat + 1):
                context = browser.new_context(viewport={"width": 1400, "height": 1600})
                page = context.new_page()
                start = time.perf_counter()
                page.goto(server.url)
                page.wait_for_function(WAIT_DRAWN, arg=n, timeout=300_000, polling=20)
                (cold if i == 0 else fresh).append(time.perf_counter() - start)
                page.wait_for_function(idle, timeout=300_000)
                page.wait_for_timeout(1000)
                start = time.perf_counter()
                page.reload()
                page.wait_for_function(WAIT_DRAWN, arg=n, timeout=300_000, polling=20)
                reload.append(time.perf_counter() - start)
                page.wait_for_function(idle, timeout=300_000)
                page.wait_for_timeout(1000)
                for box, times in ((SMALL_BOX, select), (LARGE_BOX, select_large)):
                    heading = page.locator("h3", has_text="selected tasks").inner_text()
                    drag_box(page, *box)
                    start = time.perf_counter()
                    page.mouse.up()
                    page.wait_for_function(WAIT_TABLE, arg=heading, timeout=300_000, polling=20)
                    times.append(time.perf_counter() - start)
                    counts[box] = int(page.locator("h3", has_text="selected tasks").inner_text().split()[0])
                    page.wait_for_function(idle, timeout=300_000)
                    page.wait_for_timeout(500)
                context.close()
            browser.close()
    finally:
        server.stop()
    return [("open the Task map until all points are drawn: first load after the server starts", cold),
            ("... a new browser session (plotly.js loaded and compiled again)", fresh),
            ("... a reload of the same tab", reload),
            (f"box select ({counts.get(SMALL_BOX, '?')} tasks) released until the selected-tasks table shows rows",
             select),
            (f"... a box over most of the map ({counts.get(LARGE_BOX, '?')} tasks)", select_large)]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true", help="skip the headless-Chromium timings")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import plotly.io as pio
    from streamlit.testing.v1 import AppTest

    from core.config import RegionRule
    from core.figures.map import map_figure
    from core.taskmap.regions import assign_regions

    load_before = os.getloadavg()
    home = Path(tempfile.mkdtemp(prefix="taskmap-50k-"))
    start = time.perf_counter()
    scored = build_synthetic_set(home / "results" / f"alpaca{args.n // 1000}k__synthetic", args.n)
    build_s = time.perf_counter() - start
    tasks = pd.read_parquet(scored / "tasks.parquet")
    rule = RegionRule()

    rows = [("build the synthetic scored set (once)", [build_s])]
    rows.append(("region rule on all tasks", _time(lambda: assign_regions(tasks, rule), args.repeat)))
    rows.append(("map figure (rule + map_figure)",
                 _time(lambda: map_figure(tasks.assign(region=assign_regions(tasks, rule)), rule), args.repeat)))
    fig = map_figure(tasks, rule)
    rows.append(("Plotly JSON of the figure (st.plotly_chart, every run that draws it)",
                 _time(lambda: pio.to_json(fig, validate=False), args.repeat)))

    os.environ["TASKMAP_HOME"] = str(home)
    app = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=600)
    start = time.perf_counter()
    app.run()
    first = time.perf_counter() - start
    assert not app.exception, [e.value for e in app.exception]
    rows.append(("Task map page, first run (AppTest, cold caches)", [first]))
    rows.append(("Task map page, rerun, nothing changed (AppTest)", _time(app.run, args.repeat)))

    def change_filter():
        current = app.multiselect(key="map_kinds__widget").value
        app.multiselect(key="map_kinds__widget").set_value([] if current else ["generation"]).run()

    rows.append(("Task map page, rerun after a filter change (AppTest)", _time(change_filter, args.repeat)))
    spec_mb = len(pio.to_json(fig, validate=False)) / 1e6
    if not args.no_browser:
        rows += browser_timings(home, args.n, args.repeat)
    load_after = os.getloadavg()

    print(f"\nTask map with {args.n:,} tasks (synthetic scores; ids/text from "
          f"{ALPACA.name if ALPACA.is_file() else 'generated'})")
    print(f"CPU: {cpu_model()}; load average (1, 5, 15 min) before {', '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {', '.join(f'{x:.2f}' for x in load_after)}")
    print(f"figure JSON sent to the browser: {spec_mb:.1f} MB, traces: {', '.join(t.type for t in fig.data)}\n")
    print("| step | median s | min s | max s | runs |\n|---|---:|---:|---:|---:|")
    for name, times in rows:
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} | {len(times)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
