"""The task map: prompt uncertainty on a cube-root axis, as in the paper (the many near-zero PU
values spread out; the ticks show PU itself), against prediction probability, the regions
coloured, named on the plot and shaded where the rule puts them. Also the map's drift over a
loop's rounds, as an animation."""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.config import RegionRule
from core.figures.palette import REGION_COLORS
from core.figures.text import plotly_text, plotly_texts
from core.taskmap.regions import REGIONS, fit_rule

PU_TICKS = [0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8]
WEBGL_ABOVE = 2000  # points; above this the map draws with WebGL and a short hover to stay responsive


def cube_root(values) -> np.ndarray:
    return np.cbrt(np.asarray(values, dtype=float))


def pu_axis(pu_values) -> tuple[float, list[float], list[str]]:
    """(x range end, tick positions, tick labels) of the cube-root PU axis for these values."""
    x = cube_root(pu_values)
    x_max = float(max(np.nanmax(x) if len(x) else 0.1, 0.05)) * 1.08
    ticks = [t for t in PU_TICKS if t ** (1 / 3) <= x_max]
    return x_max, cube_root(ticks).tolist(), [f"{t:g}" for t in ticks]


def _categories(tasks: pd.DataFrame) -> list[str]:
    """Each task's categories as one string ("A, B"), from `categories` (lists) or `category`."""
    single = tasks["category"].astype(str).tolist() if "category" in tasks else [""] * len(tasks)
    if "categories" not in tasks:
        return single
    return [", ".join(str(x) for x in c) if isinstance(c, (list, tuple, np.ndarray)) and len(c) else s
            for c, s in zip(tasks["categories"], single)]


def _column(tasks: pd.DataFrame, name: str, default) -> list:
    return tasks[name].tolist() if name in tasks else [default] * len(tasks)


def point_data(tasks: pd.DataFrame, region: str, detailed: bool) -> dict:
    """customdata, hover text and hover template of one region's points.

    customdata[0] is the raw task id (selections read it back; never shown), customdata[1] its
    PU. What the hover shows is escaped (plotly_text): with `detailed` (small maps) a full line per
    point in `hovertext` (id, categories, kind, PU, PP, perplexity, region); otherwise (WebGL maps,
    where every byte per point counts) the id, PU, PP and region, with an escaped copy of the ids
    in `hovertext` only when some id needs one.
    """
    ids = tasks["task_id"].astype(str).tolist()
    pu = tasks["pu"].to_numpy(dtype=float)
    out = {"customdata": [[i, round(float(p), 6)] for i, p in zip(ids, pu)]}
    if detailed:
        out["hovertext"] = [
            f"<b>{plotly_text(i)}</b><br>{plotly_text(c)} · {plotly_text(k)}<br>PU {p:.4f} · PP {q:.3f}<br>"
            f"perplexity {x:.2f}<br>region: {plotly_text(region)}"
            for i, c, k, p, q, x in zip(ids, _categories(tasks), _column(tasks, "kind", ""), pu,
                                        tasks["pp"].to_numpy(dtype=float),
                                        _column(tasks, "perplexity", float("nan")))]
        out["hovertemplate"] = "%{hovertext}<extra></extra>"
        return out
    shown = plotly_texts(ids)
    name = "%{customdata[0]}"
    if shown != ids:
        out["hovertext"], name = shown, "%{hovertext}"
    out["hovertemplate"] = (f"<b>{name}</b><br>PU %{{customdata[1]:.4f}} · PP %{{y:.3f}}<br>"
                            f"region: {plotly_text(region)}<extra></extra>")
    return out


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
                    highlight: Iterable[str] | None = None, shade: bool = True, height: int = 620,
                    whole: pd.DataFrame | None = None) -> go.Figure:
    """Scatter of PU (cube-root x) against PP, one trace per region, region names on the plot.

    Each point's customdata[0] is its task id: selections map back through it, never through
    the point index. `highlight` outlines the given tasks and fades the rest. `title` is plain
    text. Above WEBGL_ABOVE points the traces are WebGL, with single-precision coordinates and a
    short hover (see point_data), so the figure stays small enough to send and draw quickly.
    `whole` (default `tasks`): the table the x axis and the region shading are fitted on.
    """
    tasks = tasks.dropna(subset=["pu", "pp"]).reset_index(drop=True)
    if "region" not in tasks:
        tasks = tasks.assign(region="other")
    whole = tasks if whole is None else whole.dropna(subset=["pu", "pp"])
    x_max, tickvals, ticktext = pu_axis(whole["pu"])
    x_range, y_range = (0.0, x_max), (0.0, 1.02)
    marked = set(highlight or ())
    large = len(tasks) > WEBGL_ABOVE
    dtype = np.float32 if large else float
    traces: list = []
    annotations = []
    if shade and len(whole) >= 3:
        traces.append(region_shading(whole, rule, x_range, y_range).to_plotly_json())
    size = 9 if len(tasks) < 500 else (6 if len(tasks) < 5000 else 3)
    regions = tasks["region"].to_numpy()
    for region in REGIONS:
        sel = regions == region
        if not sel.any():
            continue
        rows = tasks.loc[sel]
        x, y = cube_root(rows["pu"]).astype(dtype), rows["pp"].to_numpy(dtype=dtype)
        if marked:
            chosen = rows["task_id"].isin(marked).to_numpy()
            marker = dict(color=REGION_COLORS[region], size=np.where(chosen, size + 5, size),
                          opacity=np.where(chosen, 1.0, 0.35), line=dict(width=np.where(chosen, 2, 0), color="black"))
        else:
            marker = dict(color=REGION_COLORS[region], size=size, opacity=0.85, line=dict(width=0))
        traces.append(dict(type="scattergl" if large else "scatter", x=x, y=y, mode="markers",
                           name=f"{region} ({int(sel.sum())})", marker=marker,
                           **point_data(rows, region, detailed=not large)))
        if region != "other":
            annotations.append(dict(x=float(np.median(x)), y=float(np.median(y)), text=f"<b>{region}</b>",
                                    showarrow=False, yshift=18, font=dict(size=16, color=REGION_COLORS[region]),
                                    bgcolor="rgba(255,255,255,0.75)"))
    layout = go.Layout(
        title=None if title is None else plotly_text(title), height=height, template="plotly_white",
        dragmode="select", legend=dict(title="region (tasks)", orientation="h", y=-0.15), annotations=annotations,
        xaxis=dict(title="prompt uncertainty (cube-root scale)", range=list(x_range),
                   tickvals=tickvals, ticktext=ticktext, zeroline=False),
        yaxis=dict(title="prediction probability", range=list(y_range), zeroline=False),
        margin=dict(l=60, r=20, t=60 if title else 20, b=60),
    )
    # The point traces are built without Plotly's validation: their arrays are already what Plotly
    # wants, and validating (and copying) 50,000 rows costs more than drawing them. The layout is
    # validated (it is small, and resolves the template).
    return go.Figure(data=traces, layout=layout, _validate=False)


def map_figure(tasks: pd.DataFrame, rule: RegionRule = RegionRule(), *, shown: pd.DataFrame | None = None,
               highlight: Iterable[str] | None = None, title: str | None = None, height: int = 620) -> go.Figure:
    """The task map of `shown` (a filtered part of `tasks`, default all of it).

    `tasks` must already carry regions from `rule` fitted on the whole set; the background
    shading and the x axis come from the whole set too. Points keep the task id in customdata[0].
    """
    shown = tasks if shown is None else shown
    fig = task_map_figure(shown, rule, title=title, highlight=highlight, height=height, whole=tasks)
    fig.update_layout(uirevision="taskmap", clickmode="event+select")
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
    x_max, tickvals, ticktext = pu_axis(all_pu[~np.isnan(all_pu)])
    n_points = max(len(rounds[r]) for r in order)
    scatter = go.Scattergl if n_points > WEBGL_ABOVE else go.Scatter

    def traces(table: pd.DataFrame) -> list:
        out = []
        trained = table.get("selected_before", pd.Series(False, index=table.index)).fillna(False).astype(bool)
        for region in REGIONS:
            rows = table[(table["region"] == region) & ~trained]
            out.append(scatter(x=cube_root(rows["pu"]), y=rows["pp"], mode="markers", name=region,
                               marker=dict(color=REGION_COLORS[region], size=8, opacity=0.85),
                               customdata=rows[["task_id"]].to_numpy(), hovertext=plotly_texts(rows["task_id"]),
                               hovertemplate=f"<b>%{{hovertext}}</b><br>{region}<br>PP %{{y:.3f}}<extra></extra>"))
        rows = table[trained]
        out.append(scatter(x=cube_root(rows["pu"]), y=rows["pp"], mode="markers", name="trained before this round",
                           marker=dict(color=[REGION_COLORS.get(r, "#b0b0b0") for r in rows["region"]], size=12,
                                       symbol="circle", line=dict(width=2.5, color="black")),
                           customdata=rows[["task_id", "region"]].to_numpy(),
                           hovertext=[f"<b>{plotly_text(t)}</b><br>{plotly_text(r)} · trained" for t, r in
                                      zip(rows["task_id"], rows["region"])],
                           hovertemplate="%{hovertext}<br>PP %{y:.3f}<extra></extra>"))
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
