"""The findings experiment: held-out scores of the models trained on each subset."""

from __future__ import annotations

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
