"""The task map as pages draw it: a cached figure and box/lasso selection mapped to task ids.

What keeps a 50,000-task map quick (benchmarks/dashboard_50k.py, benchmarks/RESULTS.md):
  * the figure is built once per (table file version, rule, filters, highlight) and cached as an
    object; a rerun with nothing changed reuses it (Streamlit still serializes it, ~0.1 s at 50K);
  * core.figures.map sends WebGL points with float32 coordinates and a short hover (2 MB at 50K
    instead of 7 MB), built without Plotly's validation;
  * the chart sets the hover and click modes Streamlit would otherwise change right after drawing,
    and a datarevision, so Streamlit's re-theming after mount does not make Plotly re-read the data;
  * on the Task map, the chart and the selected-tasks table are one st.fragment: a selection reruns
    only them, not the page (see views/task_map.py);
  * prefetch_chart_code has the browser load Plotly's code while the server still works.
The figure never depends on the current selection: a changed figure is a new chart to Streamlit,
which would drop the selection.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.config import RegionRule
from core.figures.map import map_figure

from . import data, state
from .filters import filter_tasks, selection_table


@st.cache_resource(max_entries=12, show_spinner="drawing the map…")
def _cached_map(table_path: str, mtime: float, size: int, rule_key: tuple, kinds: tuple, categories: tuple,
                search: str, highlight: tuple, title: str | None) -> tuple[go.Figure, int]:
    rule = RegionRule(**dict(rule_key))
    tasks = data.tasks_with_rule(Path(table_path), rule)
    shown = filter_tasks(tasks, kinds, categories, search)
    fig = map_figure(tasks, rule, shown=shown, highlight=highlight or None, title=title)
    # What Streamlit's chart would otherwise change right after drawing (each change is a redraw of
    # every point): the hover and click modes it forces on a selectable chart, and, through
    # datarevision, a second look at the data when it re-applies its theme (with a datarevision that
    # stays the same, Plotly.react takes the arrays as unchanged). A changed figure is a new chart.
    fig.update_layout(hovermode="closest", clickmode="event",
                      datarevision=hashlib.sha1(repr((table_path, mtime, size, rule_key, kinds, categories, search,
                                                          highlight, title)).encode()).hexdigest()[:16])
    return fig, len(shown)


def map_for(table_path: Path, rule: RegionRule, *, kinds=(), categories=(), search: str = "",
            highlight=(), title: str | None = None) -> tuple[go.Figure, int]:
    """(figure, number of tasks shown) for a per-task table file under a rule and filters."""
    return _cached_map(str(table_path), *data.stamp(Path(table_path)), data.rule_key(rule), tuple(kinds),
                       tuple(categories), search.strip(), tuple(sorted(highlight)), title)


def prefetch_chart_code():
    """Put a tiny empty chart on the page and remove it again (`.empty()` on what this returns):
    the browser loads Plotly's code (≈5 MB, loaded on a page's first chart) as soon as the chart
    arrives, so a page that draws its chart after seconds of work (the map of a large set the
    first time) does not start loading that code only then."""
    slot = st.empty()
    slot.plotly_chart(go.Figure(layout=dict(height=10, margin=dict(l=0, r=0, t=0, b=0),
                                            xaxis=dict(visible=False), yaxis=dict(visible=False))),
                      key="prefetch_chart_code", theme=None, config={"displayModeBar": False, "staticPlot": True})
    return slot


def _store_selection(chart_key: str) -> None:
    event = st.session_state.get(chart_key)
    points = event["selection"]["points"] if event else []
    state.set_map_selection(selected_task_ids(points))


def selectable_map(figure: go.Figure, key: str = "task_map") -> None:
    """Draw the map with box, lasso and click selection. A changed selection is stored as task
    ids (from each point's customdata[0]) under state.MAP_SELECTION, where the other pages
    (Curate, Task detail) pick it up."""
    st.plotly_chart(figure, key=key, on_select=lambda: _store_selection(key),
                    selection_mode=("box", "lasso", "points"), theme=None,
                    config={"displaylogo": False, "scrollZoom": False})


SELECTION_COLUMNS = {"task_id": st.column_config.TextColumn("task_id"), "kind": None, "category": None,
                     "region": None, "pu": st.column_config.NumberColumn("PU", format="%.4f"),
                     "pp": st.column_config.NumberColumn("PP", format="%.3f"),
                     "perplexity": st.column_config.NumberColumn(format="%.2f"), "n_instances": None}


def selection_frame(tasks: pd.DataFrame, task_ids: list[str]) -> pd.DataFrame:
    """The selected tasks as the table under the map shows them: only its columns, in
    selection order."""
    return selection_table(tasks, task_ids, columns=list(SELECTION_COLUMNS))


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
