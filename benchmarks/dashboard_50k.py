"""How the dashboard's task map copes with 50,000 tasks.

    python -m benchmarks.dashboard_50k [--n 50000] [--repeat 3]

Builds a scored set of N tasks whose ids and text come from the Alpaca-cleaned records in
../shared/data/alpaca_cleaned (one instruction = one task), with **synthetic** PU/PP/perplexity
drawn from a fixed-seed distribution shaped like the paper's map: scoring 50K tasks for real
takes hours on a CPU, and the map's cost does not depend on where the numbers came from. The
manifest says so ("synthetic": true, model "synthetic scores (not a model)").

Then it times, and prints as a table:
  * the figure alone: region rule + core.figures.map.map_figure, and Plotly's JSON encoding
    (what st.plotly_chart does on every rerun);
  * the Task map page in Streamlit's AppTest: first render (cold caches), a rerun with nothing
    changed (cached figure), and a rerun after changing a filter.
Nothing here imports torch.
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


def _time(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import plotly.io as pio
    from streamlit.testing.v1 import AppTest

    from core.config import RegionRule
    from core.figures.map import map_figure
    from core.taskmap.regions import assign_regions

    home = Path(tempfile.mkdtemp(prefix="taskmap-50k-"))
    start = time.perf_counter()
    scored = build_synthetic_set(home / "results" / f"alpaca{args.n // 1000}k__synthetic", args.n)
    build_s = time.perf_counter() - start
    tasks = pd.read_parquet(scored / "tasks.parquet")
    rule = RegionRule()

    rows = [("build the synthetic scored set (once)", build_s, build_s)]
    rows.append(("region rule on all tasks", *_time(lambda: assign_regions(tasks, rule), args.repeat)))
    rows.append(("map figure (rule + map_figure)", *_time(lambda: map_figure(tasks.assign(region=assign_regions(tasks, rule)), rule), args.repeat)))
    fig = map_figure(tasks, rule)
    rows.append(("Plotly JSON of the figure (every rerun)", *_time(lambda: pio.to_json(fig, validate=False), args.repeat)))

    os.environ["TASKMAP_HOME"] = str(home)
    app = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=600)
    start = time.perf_counter()
    app.run()
    first = time.perf_counter() - start
    assert not app.exception, [e.value for e in app.exception]
    rows.append(("Task map page, first render (AppTest)", first, first))
    rows.append(("Task map page, rerun, nothing changed", *_time(app.run, args.repeat)))

    def change_filter():
        current = app.multiselect(key="map_kinds__widget").value
        app.multiselect(key="map_kinds__widget").set_value([] if current else ["generation"]).run()

    rows.append(("Task map page, rerun after a filter change", *_time(change_filter, args.repeat)))
    spec_mb = len(pio.to_json(fig, validate=False)) / 1e6

    print(f"\nTask map with {args.n:,} tasks (synthetic scores; ids/text from {ALPACA.name if ALPACA.is_file() else 'generated'})")
    print(f"figure JSON sent to the browser: {spec_mb:.1f} MB, traces: {', '.join(t.type for t in fig.data)}\n")
    print("| step | median s | min s |\n|---|---:|---:|")
    for name, median, best in rows:
        print(f"| {name} | {median:.3f} | {best:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
