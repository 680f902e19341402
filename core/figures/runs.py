"""A run's progress (training loss, held-out scores per round) and policies compared over seeds
(METHOD.md §6: never judge a policy by one run). Names from run files (policies, subsets, seeds)
reach legends and hovers escaped (core.figures.text)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.figures.palette import METRIC_LABELS, POLICY_COLORS, color_of, rgba
from core.figures.text import plotly_text
from core.statistics import band, over_seeds


def latest_attempt(events: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Only the events of each key's latest attempt: a resumed run logs a round again under a
    higher `attempt`, and the interrupted attempt's records must not be drawn beside it."""
    if events.empty or "attempt" not in events:
        return events
    keys = [k for k in keys if k in events]
    attempt = events["attempt"].fillna(0)
    latest = attempt.groupby([events[k] for k in keys], dropna=False).transform("max") if keys else attempt.max()
    return events[attempt == latest]


def loss_figure(train: pd.DataFrame, height: int = 320) -> go.Figure:
    """Training loss per logged step; one line per round (loops retrain from the base model, so
    steps restart each round) or per subset and seed (findings runs)."""
    fig = go.Figure()
    if train.empty or "loss" not in train:
        return fig
    group_cols = [c for c in ("subset", "seed") if c in train and train[c].notna().any()] or ["round"]
    train = latest_attempt(train, ["round", *group_cols])
    for key, rows in train.groupby(group_cols, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        name = plotly_text(" · ".join(f"{c} {v}" for c, v in zip(group_cols, key)))
        fig.add_trace(go.Scatter(x=rows["step"], y=rows["loss"], mode="lines+markers", name=name, marker=dict(size=4)))
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=50, r=20, t=30, b=40),
                      xaxis_title="optimizer step", yaxis_title="training loss", legend=dict(orientation="h", y=-0.25))
    return fig


def rouge_figure(evals: pd.DataFrame, height: int = 320) -> go.Figure:
    """Held-out ROUGE-L after each round against the number of training tasks: overall,
    classification and generation (a baseline of the untrained model sits at 0 tasks)."""
    fig = go.Figure()
    if evals.empty or "rougeL" not in evals:
        return fig
    evals = latest_attempt(evals, ["round"])
    evals = evals.drop_duplicates("round", keep="last") if "round" in evals else evals
    rows = evals.sort_values(["n_tasks", "round"]) if "n_tasks" in evals else evals.sort_values("round")
    x = rows["n_tasks"] if "n_tasks" in rows else rows["round"]
    styles = {"rougeL": ("overall", "black", "solid"), "rougeL_classification": ("classification", "#1f77b4", "dash"),
              "rougeL_generation": ("generation", "#ff7f0e", "dot")}
    for column, (name, color, dash) in styles.items():
        if column in rows and rows[column].notna().any():
            fig.add_trace(go.Scatter(x=x, y=rows[column], mode="lines+markers", name=name,
                                     line=dict(color=color, dash=dash), customdata=rows[["round"]].to_numpy(),
                                     hovertemplate=f"{name}: %{{y:.2f}}<br>%{{x}} tasks · round %{{customdata[0]}}<extra></extra>"))
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=50, r=20, t=30, b=40),
                      xaxis_title="training tasks", yaxis_title="ROUGE-L (held-out tasks)",
                      legend=dict(orientation="h", y=-0.25))
    return fig


def policy_curves_figure(points: pd.DataFrame, metrics: Sequence[str] = ("rougeL",), spread: str = "std",
                         height: int = 440) -> go.Figure:
    """Each metric against the number of training tasks (one panel per metric), one mean line per
    policy with a shaded band for its spread over seeds: ±1 std ("std") or the range ("minmax").

    points: one row per (run, evaluation) with columns policy, n_tasks and the metrics.
    """
    metrics = list(metrics)
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[METRIC_LABELS.get(m, m) for m in metrics]
                        if len(metrics) > 1 else None)
    policies = sorted(points["policy"].dropna().unique()) if len(points) else []
    for col, metric in enumerate(metrics, 1):
        rows = points.dropna(subset=[metric])
        summary = over_seeds(rows, ["policy", "n_tasks"], [metric])
        for i, policy in enumerate(policies):
            part = summary[summary["policy"] == policy].sort_values("n_tasks")
            if part.empty:
                continue
            color, shown = color_of(policy, POLICY_COLORS, i), plotly_text(policy)
            x = part["n_tasks"].to_numpy()
            lo, hi = band(part, metric, spread)
            if (hi > lo).any():
                fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([hi, lo[::-1]]),
                                         mode="lines", fill="toself", fillcolor=rgba(color, 0.18), line=dict(width=0),
                                         hoverinfo="skip", name=f"{shown} spread", legendgroup=policy,
                                         showlegend=False), row=1, col=col)
            fig.add_trace(go.Scatter(
                x=x, y=part[metric], mode="lines+markers", name=shown, legendgroup=policy, showlegend=col == 1,
                line=dict(color=color, width=2.5), customdata=np.stack([lo, hi, part["n"].to_numpy()], axis=1),
                meta=shown, hovertemplate=("<b>%{meta}</b><br>%{x} tasks: %{y:.2f}<br>"
                                           "band %{customdata[0]:.2f}–%{customdata[1]:.2f} · %{customdata[2]} run(s)"
                                           "<extra></extra>")),
                row=1, col=col)
        fig.update_xaxes(title_text="training tasks", row=1, col=col)
    label = METRIC_LABELS.get(metrics[0], metrics[0]) if len(metrics) == 1 else "ROUGE-L"
    fig.update_yaxes(title_text=f"{label} on held-out tasks", row=1, col=1)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=50, r=20, t=40, b=40),
                      legend=dict(title="policy (mean over seeds)"))
    return fig
