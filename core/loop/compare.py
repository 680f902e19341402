"""Comparing loop runs: ROUGE-L against the number of training tasks, one line per policy,
mean and spread over seeds (METHOD.md §6 reports several task-pool splits, never one run).

Torch-free: `taskmap compare` and the dashboard both use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.loop.runs import RunDir

METRICS = {"rougeL": "overall", "rougeL_classification": "classification", "rougeL_generation": "generation"}
POLICY_COLORS = {"uncertainty": "#d62728", "random": "#7f7f7f", "high-perplexity": "#9467bd",
                 "low-perplexity": "#17becf", "ambiguous": "#ff7f0e", "easy": "#2ca02c", "difficult": "#1f77b4",
                 "curated": "#8c564b"}


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
    """Mean, standard deviation and number of seeds per (policy, tasks trained)."""
    if points.empty:
        return pd.DataFrame()
    grouped = points.groupby(["policy", "n_tasks"])
    table = grouped[[*METRICS, "exact_match"]].mean()
    spread = grouped[[*METRICS, "exact_match"]].std(ddof=1).add_suffix("_std")
    return table.join(spread).join(grouped.size().rename("seeds")).reset_index()


def curves_figure(points: pd.DataFrame, title: str = "ROUGE-L on held-out tasks") -> go.Figure:
    """Three panels (overall, classification, generation); a mean line and a ±1 std band per policy."""
    table = aggregate(points)
    fig = make_subplots(rows=1, cols=3, subplot_titles=list(METRICS.values()), shared_yaxes=False)
    for col, metric in enumerate(METRICS, 1):
        for policy, part in (table.groupby("policy") if len(table) else []):
            part = part.sort_values("n_tasks")
            color = POLICY_COLORS.get(policy, "#444444")
            x, mean = part["n_tasks"].to_numpy(), part[metric].to_numpy()
            std = np.nan_to_num(part[f"{metric}_std"].to_numpy())
            fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([mean + std, (mean - std)[::-1]]),
                                     fill="toself", fillcolor=color, opacity=0.15, line=dict(width=0),
                                     hoverinfo="skip", showlegend=False, legendgroup=policy), row=1, col=col)
            fig.add_trace(go.Scatter(x=x, y=mean, mode="lines+markers", name=policy, legendgroup=policy,
                                     line=dict(color=color), showlegend=col == 1,
                                     customdata=np.stack([std, part["seeds"].to_numpy()], axis=1),
                                     hovertemplate=f"{policy}<br>%{{x}} tasks: %{{y:.2f}} ± %{{customdata[0]:.2f}}"
                                                   f" (%{{customdata[1]}} seeds)<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="tasks trained", row=1, col=col)
    fig.update_yaxes(title_text="ROUGE-L", row=1, col=1)
    fig.update_layout(title=title, template="plotly_white", height=430)
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
