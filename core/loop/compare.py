"""Comparing loop runs: ROUGE-L against the number of training tasks, one line per policy,
mean and spread over seeds (METHOD.md §6 reports several task-pool splits, never one run).

Torch-free: `taskmap compare` and the dashboard both use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core.figures.runs import policy_curves_figure
from core.loop.runs import RunDir
from core.statistics import over_seeds
from core.taskmap.regions import region_counts

METRICS = {"rougeL": "overall", "rougeL_classification": "classification", "rougeL_generation": "generation"}


def eval_points(runs: Sequence[RunDir]) -> pd.DataFrame:
    """One row per (run, round): the policy, seed, tasks trained and the eval metrics.

    Only the latest attempt of each round counts (a resumed run may have logged an earlier,
    interrupted attempt of the same round).
    """
    rows = []
    for run in runs:
        config = run.config()
        if config.get("kind") != "loop":
            continue
        latest: dict[int, dict] = {}
        for event in run.metrics("eval"):
            r = event.get("round")
            if r is None or r < 0:
                continue
            if r not in latest or event.get("attempt", 0) >= latest[r].get("attempt", 0):
                latest[r] = event
        for r, event in sorted(latest.items()):
            rows.append({"run": run.name, "policy": config.get("policy"), "seed": config.get("seed"), "round": r,
                         "n_tasks": event.get("n_tasks"), **{m: event.get(m) for m in [*METRICS, "exact_match"]}})
    return pd.DataFrame(rows, columns=["run", "policy", "seed", "round", "n_tasks", *METRICS, "exact_match"])


def aggregate(points: pd.DataFrame) -> pd.DataFrame:
    """Mean, spread and number of seeds per (policy, tasks trained), for every metric."""
    return over_seeds(points, ["policy", "n_tasks"], [*METRICS, "exact_match"]).rename(columns={"n": "seeds"})


def curves_figure(points: pd.DataFrame, title: str = "ROUGE-L on held-out tasks"):
    """`taskmap compare`'s chart: overall, classification and generation ROUGE-L, one panel each."""
    fig = policy_curves_figure(points, list(METRICS), spread="std", height=430)
    fig.update_layout(title=title)
    return fig


def comparison_table(points: pd.DataFrame) -> str:
    """A Markdown table: policy × tasks trained, 'mean ± std (seeds)'."""
    table = aggregate(points)
    if table.empty:
        return "no evaluations yet"
    header = sorted(table["n_tasks"].unique())
    lines = ["| policy | " + " | ".join(f"{n} tasks" for n in header) + " |", "|---" * (len(header) + 1) + "|"]
    for policy, part in table.groupby("policy"):
        cells = []
        for n in header:
            row = part[part["n_tasks"] == n]
            if row.empty:
                cells.append("")
                continue
            row = row.iloc[0]
            std = "" if np.isnan(row["rougeL_std"]) else f" ± {row['rougeL_std']:.2f}"
            cells.append(f"{row['rougeL']:.2f}{std} ({int(row['seeds'])})")
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_runs(paths: Sequence[str | Path]) -> list[RunDir]:
    """Run directories from paths that are runs or directories of runs."""
    runs = []
    for path in map(Path, paths):
        if (path / "config.json").is_file():
            runs.append(RunDir(path))
        elif path.is_dir():
            runs += [RunDir(p) for p in sorted(path.iterdir()) if (p / "config.json").is_file()]
    return runs


def drift_summary(rounds: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Per round: tasks per region and how many were already trained on."""
    rows = []
    for r in sorted(rounds):
        table = rounds[r]
        counts = region_counts(table["region"])
        trained = int(table["selected_before"].fillna(False).astype(bool).sum()) if "selected_before" in table else 0
        rows.append({"round": r, **counts, "trained before": trained, "mean PU": float(table["pu"].mean()),
                     "mean PP": float(table["pp"].mean())})
    return pd.DataFrame(rows)
