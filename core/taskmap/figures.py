"""Plotly figure builders: plain functions from tables to figures, no file or UI code.

Shared by `taskmap map` (written to HTML) and the dashboard. The task map puts prompt
uncertainty on a cube-root axis, as in the paper, so the many near-zero PU values spread out;
the axis ticks show PU itself.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.taskmap.regions import REGION_COLORS, REGIONS, RegionRule, fit_rule

PU_TICKS = [0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8]
WEBGL_ABOVE = 2000  # points; above this the map draws with WebGL to stay responsive
HOVER_COLUMNS = ["task_id", "category", "kind", "pu", "pp", "perplexity", "region"]


def cube_root(values) -> np.ndarray:
    return np.cbrt(np.asarray(values, dtype=float))


def _hover_frame(tasks: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({c: tasks[c] if c in tasks else "" for c in HOVER_COLUMNS})
    if "categories" in tasks:
        frame["category"] = [", ".join(c) if isinstance(c, (list, tuple, np.ndarray)) and len(c) else str(cat)
                             for c, cat in zip(tasks["categories"], frame["category"])]
    return frame


def region_shading(tasks: pd.DataFrame, rule: RegionRule, x_range, y_range, steps: int = 120) -> go.Heatmap:
    """The rule evaluated on a grid: faint background colour showing where each region lies."""
    fitted = fit_rule(tasks["pu"], tasks["pp"], rule)
    xs = np.linspace(*x_range, steps)
    ys = np.linspace(*y_range, steps)
    gx, gy = np.meshgrid(xs, ys)
    names = fitted.classify(gx.ravel() ** 3, gy.ravel()).reshape(gx.shape)
    codes = np.vectorize(REGIONS.index)(names)
    n = len(REGIONS)
    scale = []
    for i, name in enumerate(REGIONS):
        scale += [[i / n, REGION_COLORS[name]], [(i + 1) / n, REGION_COLORS[name]]]
    return go.Heatmap(x=xs, y=ys, z=codes, zmin=0, zmax=n, colorscale=scale, showscale=False,
                      opacity=0.10, hoverinfo="skip", name="regions")


def task_map_figure(tasks: pd.DataFrame, rule: RegionRule = RegionRule(), *, title: str | None = None,
                    highlight: Iterable[str] | None = None, shade: bool = True, height: int = 620) -> go.Figure:
    """Scatter of PU (cube-root x) against PP, one trace per region, region names on the plot.

    Each point's customdata[0] is its task id: selections map back through it, never through
    the point index. `highlight` outlines the given tasks and fades the rest.
    """
    tasks = tasks.dropna(subset=["pu", "pp"]).reset_index(drop=True)
    if "region" not in tasks:
        tasks = tasks.assign(region="other")
    x = cube_root(tasks["pu"])
    x_max = float(max(x.max() if len(x) else 0.1, 0.05)) * 1.08
    x_range, y_range = (0.0, x_max), (0.0, 1.02)
    marked = set(highlight or ())
    scatter = go.Scattergl if len(tasks) > WEBGL_ABOVE else go.Scatter
    hover = _hover_frame(tasks)
    fig = go.Figure()
    if shade and len(tasks) >= 3:
        fig.add_trace(region_shading(tasks, rule, x_range, y_range))
    size = 9 if len(tasks) < 500 else (6 if len(tasks) < 5000 else 3)
    for region in REGIONS:
        sel = (tasks["region"] == region).to_numpy()
        if not sel.any():
            continue
        chosen = tasks.loc[sel, "task_id"].isin(marked).to_numpy() if marked else np.zeros(sel.sum(), bool)
        fig.add_trace(scatter(
            x=x[sel], y=tasks.loc[sel, "pp"], mode="markers", name=f"{region} ({int(sel.sum())})",
            customdata=hover.loc[sel].to_numpy(),
            marker=dict(color=REGION_COLORS[region], size=np.where(chosen, size + 5, size) if marked else size,
                        opacity=np.where(chosen, 1.0, 0.35).tolist() if marked else 0.85,
                        line=dict(width=np.where(chosen, 2, 0).tolist() if marked else 0, color="black")),
            hovertemplate=("<b>%{customdata[0]}</b><br>%{customdata[1]} · %{customdata[2]}<br>"
                           "PU %{customdata[3]:.4f} · PP %{customdata[4]:.3f}<br>"
                           "perplexity %{customdata[5]:.2f}<br>region: %{customdata[6]}<extra></extra>"),
        ))
        if region != "other":
            fig.add_annotation(x=float(np.median(x[sel])), y=float(tasks.loc[sel, "pp"].median()),
                               text=f"<b>{region}</b>", showarrow=False, yshift=18,
                               font=dict(size=16, color=REGION_COLORS[region]),
                               bgcolor="rgba(255,255,255,0.75)")
    ticks = [t for t in PU_TICKS if t ** (1 / 3) <= x_max]
    fig.update_layout(
        title=title, height=height, template="plotly_white", dragmode="select",
        legend=dict(title="region (tasks)", orientation="h", y=-0.15),
        xaxis=dict(title="prompt uncertainty (cube-root scale)", range=list(x_range),
                   tickvals=cube_root(ticks).tolist(), ticktext=[f"{t:g}" for t in ticks], zeroline=False),
        yaxis=dict(title="prediction probability", range=list(y_range), zeroline=False),
        margin=dict(l=60, r=20, t=60 if title else 20, b=60),
    )
    return fig
