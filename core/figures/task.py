"""One task's scores, and where a selection of tasks sits on the map."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.figures.palette import REGION_COLORS
from core.figures.text import plotly_text
from core.taskmap.regions import REGIONS


def perturbation_figure(sequences: pd.DataFrame, height: int = 380) -> go.Figure:
    """P_j for j = 0..k, one line per instance, P_0 (the original prompt) as a large diamond:
    the vertical spread of a line is that instance's share of the task's PU. Instance ids reach
    the legend and the hover escaped (they are task data)."""
    fig = go.Figure()
    if sequences.empty:
        return fig
    seqs = sequences.sort_values(["instance_id", "perturbation"])
    for instance_id, rows in seqs.groupby("instance_id", sort=False):
        p0 = rows.loc[rows["perturbation"] == 0, "prob"]
        p0 = float(p0.iloc[0]) if len(p0) else np.nan
        delta = (rows["prob"] - p0).abs()
        fig.add_trace(go.Scatter(
            x=rows["perturbation"], y=rows["prob"], mode="lines+markers", name=plotly_text(instance_id),
            legendgroup=str(instance_id), marker=dict(size=7), line=dict(width=1.5),
            customdata=np.stack([delta.to_numpy()], axis=-1), meta=plotly_text(instance_id),
            hovertemplate="<b>%{meta}</b><br>j=%{x} · P_j=%{y:.3f}<br>|P_j − P_0|=%{customdata[0]:.3f}<extra></extra>",
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


def region_mix_figure(counts: Mapping[str, int], title: str | None = None, height: int = 240) -> go.Figure:
    """How many of a policy's picks fall in each region of the map (`title` is plain text)."""
    names = list(REGIONS)
    fig = go.Figure(go.Bar(x=names, y=[counts.get(n, 0) for n in names], marker_color=[REGION_COLORS[n] for n in names],
                           text=[counts.get(n, 0) for n in names], textposition="outside"))
    fig.update_layout(title=None if title is None else plotly_text(title), height=height, template="plotly_white", margin=dict(l=40, r=10, t=40 if title else 10, b=30),
                      yaxis_title="tasks", showlegend=False)
    return fig
