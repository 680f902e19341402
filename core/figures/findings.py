"""The findings experiment: held-out scores of the models trained on each subset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.figures.palette import METRIC_LABELS, SUBSET_COLORS, color_of
from core.statistics import over_seeds

SUBSET_ORDER = ("base", "ambiguous", "easy", "difficult", "random")


def findings_summary(results: pd.DataFrame, metric: str = "rougeL") -> pd.DataFrame:
    """Mean, standard deviation (NaN with one seed) and runs of `metric` per subset, in the
    paper's order."""
    columns = ["subset", "mean", "std", "n"]
    if results.empty or metric not in results:
        return pd.DataFrame(columns=columns)
    out = over_seeds(results, ["subset"], [metric]).rename(columns={metric: "mean", f"{metric}_std": "std"})
    order = {name: i for i, name in enumerate(SUBSET_ORDER)}
    out["_o"] = [order.get(s, len(order)) for s in out["subset"]]
    return out.sort_values(["_o", "subset"]).reset_index(drop=True)[columns]


def findings_bar_figure(results: pd.DataFrame, metric: str = "rougeL", height: int = 360) -> go.Figure:
    """Mean ± std over seeds per subset."""
    summary = findings_summary(results, metric)
    fig = go.Figure(go.Bar(
        x=summary["subset"], y=summary["mean"],
        error_y=dict(type="data", array=summary["std"].fillna(0), visible=True),
        marker_color=[color_of(s, SUBSET_COLORS, i) for i, s in enumerate(summary["subset"])],
        customdata=summary[["std", "n"]].to_numpy(),
        hovertemplate="<b>%{x}</b><br>mean %{y:.2f} ± %{customdata[0]:.2f} over %{customdata[1]} seed(s)<extra></extra>",
    ))
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=50, r=20, t=30, b=40),
                      xaxis_title="tasks trained on",
                      yaxis_title=f"{METRIC_LABELS.get(metric, metric)} (mean ± std over seeds)", showlegend=False)
    return fig


# --- the report's figures: intervals, paired differences, where a gain comes from -----------------

SUBSET_SYMBOLS = {"ambiguous": "diamond-open", "easy": "square-open", "difficult": "triangle-up-open",
                  "random": "circle-open"}
VERDICT_COLORS = {"above": "#2ca02c", "below": "#d62728", "not separated": "#7f7f7f"}


def subset_ci_figure(subsets: pd.DataFrame, height: int = 420, title: str | None = None) -> go.Figure:
    """Mean held-out score per subset with its 95% bootstrap interval (rows of
    core.loop.findings.analysis.Analysis.subsets: subset, mean, low, high, n_tasks, n_seeds)."""
    fig = go.Figure(go.Bar(
        x=subsets["subset"], y=subsets["mean"],
        error_y=dict(type="data", symmetric=False, array=(subsets["high"] - subsets["mean"]).tolist(),
                     arrayminus=(subsets["mean"] - subsets["low"]).tolist(), visible=True, thickness=2, width=8),
        marker_color=[color_of(s, SUBSET_COLORS, i) for i, s in enumerate(subsets["subset"])],
        text=[f"{m:.1f}" for m in subsets["mean"]], textposition="inside", insidetextanchor="start",
        customdata=subsets[["low", "high", "n_tasks", "n_seeds"]].to_numpy(),
        hovertemplate=("<b>%{x}</b><br>mean %{y:.2f}<br>95% CI %{customdata[0]:.2f} to %{customdata[1]:.2f}"
                       "<br>%{customdata[2]} held-out tasks × %{customdata[3]} seed(s)<extra></extra>"),
    ))
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=60, r=20, t=50 if title else 20, b=40),
                      title=title, xaxis_title="trained on", yaxis_title="held-out ROUGE-L (mean, 95% CI)",
                      showlegend=False)
    return fig


def forest_figure(comparisons: pd.DataFrame, height: int | None = None, title: str | None = None) -> go.Figure:
    """The paired differences as a forest plot: one row per comparison, the mean difference and its
    95% interval, a line at zero; coloured by verdict (separated above / below zero, or not)."""
    rows = comparisons.iloc[::-1].reset_index(drop=True)  # first comparison on top
    labels = [f"{a} − {b}" for a, b in zip(rows["a"], rows["b"])]
    colors = [VERDICT_COLORS["not separated"] if v == "not separated" else
              VERDICT_COLORS["above" if d > 0 else "below"] for v, d in zip(rows["verdict"], rows["diff"])]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=rows["diff"], y=labels, mode="markers", marker=dict(size=12, color=colors, symbol="square"),
        error_x=dict(type="data", symmetric=False, array=(rows["high"] - rows["diff"]).tolist(),
                     arrayminus=(rows["diff"] - rows["low"]).tolist(), thickness=2.5, width=6, color="#444"),
        customdata=np.column_stack([rows["low"], rows["high"], rows["p_holm"], rows["verdict"]]),
        hovertemplate=("<b>%{y}</b><br>difference %{x:+.2f}<br>95% CI %{customdata[0]:+.2f} to %{customdata[1]:+.2f}"
                       "<br>Holm-adjusted p %{customdata[2]:.3f}<br>%{customdata[3]}<extra></extra>"),
        showlegend=False))
    fig.add_vline(x=0, line=dict(color="black", width=1, dash="dash"))
    for label, d, v in zip(labels, rows["diff"], rows["verdict"]):
        fig.add_annotation(x=d, y=label, text=v, showarrow=False, yshift=16, font=dict(size=12))
    span = float(np.nanmax(np.abs(np.concatenate([rows["low"], rows["high"]])))) if len(rows) else 1.0
    fig.update_layout(height=height or 140 + 70 * len(rows), template="plotly_white", title=title,
                      margin=dict(l=160, r=30, t=50 if title else 20, b=50),
                      xaxis=dict(title="difference in held-out ROUGE-L (mean, 95% CI)", range=[-span * 1.15, span * 1.15],
                                 zeroline=False))
    return fig


def kind_figure(by_kind: pd.DataFrame, height: int = 400, title: str | None = None) -> go.Figure:
    """Mean held-out score per subset, classification and generation tasks apart, with intervals."""
    fig = go.Figure()
    for kind, color in (("classification", "#9467bd"), ("generation", "#17becf")):
        part = by_kind[by_kind["kind"] == kind]
        if part.empty:
            continue
        fig.add_trace(go.Bar(
            x=part["subset"], y=part["mean"], name=f"{kind} ({int(part['n_tasks'].max())} tasks)", marker_color=color,
            error_y=dict(type="data", symmetric=False, array=(part["high"] - part["mean"]).tolist(),
                         arrayminus=(part["mean"] - part["low"]).tolist(), visible=True),
            hovertemplate=f"<b>%{{x}}</b> · {kind}<br>mean %{{y:.2f}}<extra></extra>"))
    fig.update_layout(barmode="group", height=height, template="plotly_white", title=title,
                      margin=dict(l=60, r=20, t=50 if title else 20, b=40), yaxis_title="held-out ROUGE-L (mean, 95% CI)",
                      legend=dict(orientation="h", y=1.08))
    return fig


def category_figure(by_category: pd.DataFrame, height: int | None = None, title: str | None = None) -> go.Figure:
    """Held-out score per task category (rows) and subset (columns), each cell the mean over the
    category's tasks and the seeds, written in the cell."""
    subsets = [c for c in by_category.columns if c not in ("category", "n_tasks")]
    labels = [f"{c} ({n})" for c, n in zip(by_category["category"], by_category["n_tasks"])]
    z = by_category[subsets].to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(
        z=z, x=subsets, y=labels, colorscale="Blues", colorbar=dict(title="ROUGE-L"),
        text=[[("" if np.isnan(v) else f"{v:.1f}") for v in row] for row in z], texttemplate="%{text}",
        hovertemplate="<b>%{y}</b><br>%{x}: %{z:.2f}<extra></extra>"))
    fig.update_layout(height=height or max(300, 120 + 26 * len(labels)), template="plotly_white", title=title,
                      margin=dict(l=260, r=20, t=50 if title else 20, b=40), yaxis=dict(autorange="reversed"),
                      xaxis_title="trained on (category: held-out tasks)")
    return fig


def subsets_map_figure(scores: pd.DataFrame, rule, trained: dict[str, set[str]], title: str | None = None,
                       height: int = 620) -> go.Figure:
    """The base model's task map with each subset's training tasks (over all seeds) marked by a
    ring in the subset's colour and symbol; a task trained on by several subsets gets several."""
    from core.figures.map import cube_root, task_map_figure

    fig = task_map_figure(scores, rule, title=title, height=height)
    table = scores.dropna(subset=["pu", "pp"]).set_index("task_id")
    for i, (subset, ids) in enumerate(trained.items()):
        rows = table.loc[table.index.intersection(sorted(ids))]
        if rows.empty:
            continue
        fig.add_trace(go.Scatter(
            x=cube_root(rows["pu"]), y=rows["pp"], mode="markers", name=f"trained: {subset} ({len(rows)})",
            marker=dict(symbol=SUBSET_SYMBOLS.get(subset, "circle-open"), size=16 + 4 * (i % 2),
                        color=color_of(subset, SUBSET_COLORS, i), line=dict(width=2.5)),
            customdata=np.array(rows.index)[:, None], hoverinfo="skip"))
    fig.update_layout(legend=dict(title=None, orientation="h", y=-0.15))
    return fig
