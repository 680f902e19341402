"""Plotly figure builders for the dashboard: plain functions from tables to figures.

No Streamlit and no file I/O here, so each builder is unit-tested on its own. The task map
itself is core.taskmap.figures.task_map_figure; `map_figure` only adds what a filtered view needs
(region shading and axis fitted on the whole set, so hiding tasks never moves the borders).
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.loop.compare import POLICY_COLORS
from core.taskmap.figures import PU_TICKS, WEBGL_ABOVE, cube_root, region_shading, task_map_figure
from core.taskmap.regions import REGION_COLORS, REGIONS, RegionRule

SUBSET_ORDER = ("ambiguous", "easy", "difficult", "random")
SUBSET_COLORS = {**REGION_COLORS, "random": "#9467bd", "base": "#7f7f7f"}
POLICY_PALETTE = ("#d62728", "#7f7f7f", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
METRIC_LABELS = {
    "rougeL": "ROUGE-L", "rougeL_classification": "ROUGE-L (classification)",
    "rougeL_generation": "ROUGE-L (generation)", "exact_match": "exact match",
    "exact_match_classification": "exact match (classification)", "exact_match_generation": "exact match (generation)",
}


def _x_axis(pu_values) -> tuple[float, list[float], list[str]]:
    x = cube_root(pu_values)
    x_max = float(max(np.nanmax(x) if len(x) else 0.1, 0.05)) * 1.08
    ticks = [t for t in PU_TICKS if t ** (1 / 3) <= x_max]
    return x_max, cube_root(ticks).tolist(), [f"{t:g}" for t in ticks]


def map_figure(tasks: pd.DataFrame, rule: RegionRule = RegionRule(), *, shown: pd.DataFrame | None = None,
               highlight: Iterable[str] | None = None, title: str | None = None, height: int = 620) -> go.Figure:
    """The task map of `shown` (a filtered part of `tasks`, default all of it).

    `tasks` must already carry regions from `rule` fitted on the whole set; the background
    shading and the x axis come from the whole set too. Points keep the task id in customdata[0].
    """
    shown = tasks if shown is None else shown
    fig = task_map_figure(shown, rule, title=title, highlight=highlight, shade=False, height=height)
    scored = tasks.dropna(subset=["pu", "pp"])
    x_max, tickvals, ticktext = _x_axis(scored["pu"])
    fig.update_xaxes(range=[0.0, x_max], tickvals=tickvals, ticktext=ticktext)
    if len(scored) >= 3:
        fig.add_trace(region_shading(scored, rule, (0.0, x_max), (0.0, 1.02)))
        fig.data = (fig.data[-1],) + tuple(fig.data[:-1])  # shading behind the points
    fig.update_layout(uirevision="taskmap", clickmode="event+select")
    return fig


def selected_task_ids(points: Iterable[Mapping]) -> list[str]:
    """Task ids of a Plotly selection event's points, read from customdata[0] (never from the
    point index, which depends on trace order and filtering). Order kept, duplicates dropped."""
    seen: dict[str, None] = {}
    for point in points or ():
        custom = point.get("customdata") if isinstance(point, Mapping) else None
        if isinstance(custom, (list, tuple)) and custom:
            seen.setdefault(str(custom[0]), None)
        elif isinstance(custom, str):
            seen.setdefault(custom, None)
    return list(seen)


# --- one task ---------------------------------------------------------------------------------

def perturbation_figure(sequences: pd.DataFrame, height: int = 380) -> go.Figure:
    """P_j for j = 0..k, one line per instance, P_0 (the original prompt) as a large diamond:
    the vertical spread of a line is that instance's share of the task's PU."""
    fig = go.Figure()
    if sequences.empty:
        return fig
    seqs = sequences.sort_values(["instance_id", "perturbation"])
    for i, (instance_id, rows) in enumerate(seqs.groupby("instance_id", sort=False)):
        p0 = rows.loc[rows["perturbation"] == 0, "prob"]
        p0 = float(p0.iloc[0]) if len(p0) else np.nan
        delta = (rows["prob"] - p0).abs()
        fig.add_trace(go.Scatter(
            x=rows["perturbation"], y=rows["prob"], mode="lines+markers", name=str(instance_id),
            legendgroup=str(instance_id), marker=dict(size=7), line=dict(width=1.5),
            customdata=np.stack([delta.to_numpy()], axis=-1),
            hovertemplate=f"<b>{instance_id}</b><br>j=%{{x}} · P_j=%{{y:.3f}}<br>|P_j − P_0|=%{{customdata[0]:.3f}}<extra></extra>",
        ))
    base = seqs[seqs["perturbation"] == 0]
    fig.add_trace(go.Scatter(
        x=base["perturbation"], y=base["prob"], mode="markers", name="P₀ (original prompt)",
        marker=dict(symbol="diamond", size=15, color="rgba(0,0,0,0)", line=dict(width=2.5, color="black")),
        hovertemplate="P_0=%{y:.3f}<extra>original prompt</extra>",
    ))
    k = int(seqs["perturbation"].max())
    fig.update_layout(
        height=height, template="plotly_white", margin=dict(l=50, r=20, t=30, b=40),
        xaxis=dict(title="prompt j (0 = original, 1..k perturbed)", tickvals=list(range(k + 1)), range=[-0.4, k + 0.4]),
        yaxis=dict(title="P_j(y): length-normalised probability", range=[0, 1.02]),
        legend=dict(title="instance"),
    )
    return fig


# --- runs ---------------------------------------------------------------------------------

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
        name = " · ".join(f"{c} {v}" for c, v in zip(group_cols, key))
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


def region_mix(regions: pd.Series) -> dict[str, int]:
    counts = regions.value_counts()
    return {name: int(counts.get(name, 0)) for name in REGIONS}


def region_mix_figure(counts: Mapping[str, int], title: str | None = None, height: int = 240) -> go.Figure:
    """How many of a policy's picks fall in each region of the map."""
    names = list(REGIONS)
    fig = go.Figure(go.Bar(x=names, y=[counts.get(n, 0) for n in names], marker_color=[REGION_COLORS[n] for n in names],
                           text=[counts.get(n, 0) for n in names], textposition="outside"))
    fig.update_layout(title=title, height=height, template="plotly_white", margin=dict(l=40, r=10, t=40 if title else 10, b=30),
                      yaxis_title="tasks", showlegend=False)
    return fig


# --- comparisons ---------------------------------------------------------------------------

def aggregate_curves(points: pd.DataFrame, spread: str = "std") -> pd.DataFrame:
    """Per policy and number of training tasks: mean over seeds (runs) and the band around it.

    points: one row per (run, evaluation) with columns policy, n_tasks, value.
    spread: "std" gives mean ± one standard deviation (0 with one seed), "minmax" the range.
    """
    columns = ["policy", "n_tasks", "mean", "lo", "hi", "n"]
    if points.empty:
        return pd.DataFrame(columns=columns)
    grouped = points.groupby(["policy", "n_tasks"], sort=True)["value"]
    out = grouped.agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                      lo_="min", hi_="max", n="count").reset_index()
    if spread == "minmax":
        out["lo"], out["hi"] = out["lo_"], out["hi_"]
    else:
        out["lo"], out["hi"] = out["mean"] - out["std"], out["mean"] + out["std"]
    return out[columns]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def policy_curves_figure(points: pd.DataFrame, metric: str = "rougeL", spread: str = "std",
                         height: int = 440) -> go.Figure:
    """Metric against the number of training tasks, one mean line per policy with a shaded band
    for the spread over seeds (METHOD.md §6: never judge a policy by one run)."""
    curves = aggregate_curves(points, spread)
    fig = go.Figure()
    for i, (policy, rows) in enumerate(curves.groupby("policy", sort=True)):
        color = POLICY_COLORS.get(policy, POLICY_PALETTE[i % len(POLICY_PALETTE)])
        rows = rows.sort_values("n_tasks")
        if (rows["hi"] > rows["lo"]).any():
            fig.add_trace(go.Scatter(mode="lines",
                x=np.concatenate([rows["n_tasks"], rows["n_tasks"][::-1]]),
                y=np.concatenate([rows["hi"], rows["lo"][::-1]]),
                fill="toself", fillcolor=_rgba(color, 0.18), line=dict(width=0), hoverinfo="skip",
                name=f"{policy} spread", legendgroup=policy, showlegend=False))
        fig.add_trace(go.Scatter(
            x=rows["n_tasks"], y=rows["mean"], mode="lines+markers", name=policy, legendgroup=policy,
            line=dict(color=color, width=2.5), customdata=rows[["lo", "hi", "n"]].to_numpy(),
            hovertemplate=(f"<b>{policy}</b><br>%{{x}} tasks: %{{y:.2f}}<br>"
                           "band %{customdata[0]:.2f}–%{customdata[1]:.2f} · %{customdata[2]} run(s)<extra></extra>")))
    label = METRIC_LABELS.get(metric, metric)
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=50, r=20, t=30, b=40),
                      xaxis_title="training tasks", yaxis_title=f"{label} on held-out tasks",
                      legend=dict(title="policy (mean over seeds)"))
    return fig


def findings_summary(results: pd.DataFrame, metric: str = "rougeL") -> pd.DataFrame:
    """Mean and standard deviation of `metric` over seeds, per subset, in the paper's order."""
    columns = ["subset", "mean", "std", "n"]
    if results.empty or metric not in results:
        return pd.DataFrame(columns=columns)
    grouped = results.groupby("subset")[metric]
    out = grouped.agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, n="count").reset_index()
    order = {name: i for i, name in enumerate(SUBSET_ORDER)}
    out["_o"] = [order.get(s, len(order)) for s in out["subset"]]
    return out.sort_values(["_o", "subset"]).drop(columns="_o").reset_index(drop=True)[columns]


def findings_bar_figure(results: pd.DataFrame, metric: str = "rougeL", height: int = 360) -> go.Figure:
    """The ambiguous-vs-easy-vs-difficult-vs-random experiment: mean ± std over seeds per subset."""
    summary = findings_summary(results, metric)
    fig = go.Figure(go.Bar(
        x=summary["subset"], y=summary["mean"], error_y=dict(type="data", array=summary["std"], visible=True),
        marker_color=[SUBSET_COLORS.get(s, "#8c564b") for s in summary["subset"]],
        customdata=summary[["std", "n"]].to_numpy(),
        hovertemplate="<b>%{x}</b><br>mean %{y:.2f} ± %{customdata[0]:.2f} over %{customdata[1]} seed(s)<extra></extra>",
    ))
    fig.update_layout(height=height, template="plotly_white", margin=dict(l=50, r=20, t=30, b=40),
                      xaxis_title="tasks trained on", yaxis_title=f"{METRIC_LABELS.get(metric, metric)} (mean ± std over seeds)",
                      showlegend=False)
    return fig


def drift_figure(rounds: Mapping[int, pd.DataFrame], height: int = 620) -> go.Figure:
    """The map of each round as one animation frame: the pool as scored with that round's
    starting model, coloured by its regions, tasks already trained on drawn as black rings.

    rounds: round -> per-task table with pu, pp, region and selected_before.
    """
    fig = go.Figure()
    if not rounds:
        return fig
    order = sorted(rounds)
    all_pu = np.concatenate([rounds[r]["pu"].to_numpy(dtype=float) for r in order])
    x_max, tickvals, ticktext = _x_axis(all_pu[~np.isnan(all_pu)])
    n_points = max(len(rounds[r]) for r in order)
    scatter = go.Scattergl if n_points > WEBGL_ABOVE else go.Scatter

    def traces(table: pd.DataFrame) -> list:
        out = []
        trained = table.get("selected_before", pd.Series(False, index=table.index)).fillna(False).astype(bool)
        for region in REGIONS:
            rows = table[(table["region"] == region) & ~trained]
            out.append(scatter(x=cube_root(rows["pu"]), y=rows["pp"], mode="markers", name=region,
                               marker=dict(color=REGION_COLORS[region], size=8, opacity=0.85),
                               customdata=rows[["task_id"]].to_numpy(),
                               hovertemplate=f"<b>%{{customdata[0]}}</b><br>{region}<br>PP %{{y:.3f}}<extra></extra>"))
        rows = table[trained]
        out.append(scatter(x=cube_root(rows["pu"]), y=rows["pp"], mode="markers", name="trained before this round",
                           marker=dict(color=[REGION_COLORS.get(r, "#b0b0b0") for r in rows["region"]], size=12,
                                       symbol="circle", line=dict(width=2.5, color="black")),
                           customdata=rows[["task_id", "region"]].to_numpy(),
                           hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]} · trained<br>PP %{y:.3f}<extra></extra>"))
        return out

    for trace in traces(rounds[order[0]]):
        fig.add_trace(trace)
    fig.frames = [go.Frame(data=traces(rounds[r]), name=str(r)) for r in order]
    steps = [dict(method="animate", label=f"round {r}",
                  args=[[str(r)], dict(mode="immediate", frame=dict(duration=600, redraw=True), transition=dict(duration=300))])
             for r in order]
    fig.update_layout(
        height=height, template="plotly_white", margin=dict(l=60, r=20, t=30, b=60),
        xaxis=dict(title="prompt uncertainty (cube-root scale)", range=[0, x_max], tickvals=tickvals, ticktext=ticktext),
        yaxis=dict(title="prediction probability", range=[0, 1.02]),
        sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="map at the start of "), pad=dict(t=50))],
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=-0.12, xanchor="left",
                          buttons=[dict(label="▶ play", method="animate",
                                        args=[None, dict(frame=dict(duration=900, redraw=True), fromcurrent=True)])])],
        legend=dict(orientation="h", y=1.06),
    )
    return fig


def drift_summary(rounds: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Per round: tasks per region and how many were already trained on."""
    rows = []
    for r in sorted(rounds):
        table = rounds[r]
        counts = region_mix(table["region"])
        trained = int(table["selected_before"].fillna(False).astype(bool).sum()) if "selected_before" in table else 0
        rows.append({"round": r, **counts, "trained before": trained, "mean PU": float(table["pu"].mean()),
                     "mean PP": float(table["pp"].mean())})
    return pd.DataFrame(rows)
