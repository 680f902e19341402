"""Task map: PU (cube-root axis) against PP, coloured by region; select tasks with box or lasso."""

import streamlit as st

from dashboard import data, nav, state
from dashboard.maps import SELECTION_COLUMNS, map_for, prefetch_chart_code, selectable_map, selection_frame
from dashboard.text import escape
from dashboard.widgets import pickers, rules
from dashboard.widgets.common import page_guard

st.title("Task map")


@st.fragment
def map_and_selection(view: pickers.MapView, rule) -> None:
    """The map and what is selected on it. A selection reruns only this part of the page."""
    with page_guard("the map"):
        draw_map_and_selection(view, rule)


def draw_map_and_selection(view: pickers.MapView, rule) -> None:
    tasks = data.tasks_with_rule(view.table_path, rule)
    figure, n_shown = map_for(view.table_path, rule, kinds=view.kinds, categories=view.categories,
                              search=view.search)
    if n_shown < len(tasks):
        st.caption(f"showing {n_shown} of {len(tasks)} tasks (filters in the sidebar)")
    if n_shown == 0:
        st.info("No task matches the filters.")
    selectable_map(figure, key=f"task_map_{st.session_state.get(state.MAP_VERSION, 0)}")
    st.caption("Drag a box (or pick lasso in the chart's toolbar) to select tasks; double-click to clear.")

    chosen = selection_frame(tasks, state.map_selection())
    st.subheader(f"{len(chosen)} selected tasks")
    if not len(chosen):
        st.caption("Nothing selected yet.")
        return
    st.dataframe(chosen, hide_index=True, key="map_selection_table", height=min(38 + 35 * len(chosen), 530),
                 column_config=SELECTION_COLUMNS)
    left, middle, right = st.columns(3)
    if left.button(f"Send {len(chosen)} tasks to Curate", type="primary", key="send_selection"):
        added = state.send_to_curate(tasks, chosen["task_id"], added_from=f"map: {view.source}")
        state.set_notice(f"{added} task(s) added from the map.")
        st.switch_page(nav.CURATE)
    if middle.button("Open the first in Task detail", key="open_detail"):
        st.session_state[state.DETAIL_TASK] = chosen["task_id"].iloc[0]
        st.switch_page(nav.TASK_DETAIL)
    right.button("Clear selection", key="clear_selection", on_click=state.clear_map_selection)


def show() -> None:
    prefetch = prefetch_chart_code()  # Plotly's code loads while the page does the work below
    info = pickers.scored_set_picker()
    rule = rules.rule_controls()
    if info is None:
        prefetch.empty()
        return
    view = pickers.map_filters(info)
    tasks = data.tasks_with_rule(view.table_path, rule)
    shares = (f" ({rule.ambiguous_frac:.0%} / {rule.easy_frac:.0%} / {rule.difficult_frac:.0%} of the pool)"
              if rule.method == "rank" else "")
    st.caption(f"**{escape(view.source)}** · model {escape(info.model_label)} · {len(tasks)} tasks · "
               f"rule: {rule.method}{shares}")
    rules.region_metrics(tasks["region"], total=len(tasks))
    map_and_selection(view, rule)
    prefetch.empty()


with page_guard("the task map"):
    show()
