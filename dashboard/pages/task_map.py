"""Task map: PU (cube-root axis) against PP, coloured by region; select tasks with box or lasso."""

import streamlit as st

from dashboard import data, widgets
from dashboard.maps import map_for, selectable_map, selection_table

st.title("Task map")


def show() -> None:
    info = widgets.scored_set_picker()
    rule = widgets.rule_controls()
    if info is None:
        return

    # a loop round's map (the pool as scored with that round's model) instead of the set itself
    rounds = {f"{run.name} · round {r}": str(path) for run in data.all_runs()
              for r, path in data.round_taskmaps(run).items()}
    with st.sidebar.expander("Filters", expanded=True):
        round_choice = "scored set itself"
        if rounds:
            if st.session_state.get("map_round") not in ["scored set itself", *rounds]:
                st.session_state["map_round"] = "scored set itself"
            round_choice = widgets.shared(st.selectbox, "loop round", "map_round",
                                          options=["scored set itself", *rounds],
                                          help="show the pool as scored at the start of a loop run's round")
        table_path = info.path / "tasks.parquet" if round_choice not in rounds else rounds[round_choice]
        tasks = data.tasks_with_rule(table_path, rule)
        kinds = widgets.shared(st.multiselect, "kind", "map_kinds", [], options=["classification", "generation"],
                               placeholder="all kinds")
        category_options = data.categories(table_path)
        st.session_state["map_categories"] = [c for c in st.session_state.get("map_categories", [])
                                              if c in category_options]
        categories = widgets.shared(st.multiselect, "category", "map_categories", options=category_options,
                                    placeholder="all categories")
        search = widgets.shared(st.text_input, "name contains", "map_search", "",
                                placeholder="task id or definition text")

    source = info.name if round_choice not in rounds else round_choice
    st.caption(f"**{source}** · model `{info.model_label}` · {len(tasks)} tasks · rule: {rule.method}"
               + (f" ({rule.ambiguous_frac:.0%} / {rule.easy_frac:.0%} / {rule.difficult_frac:.0%} of the pool)"
                  if rule.method == "rank" else ""))
    widgets.region_metrics(tasks["region"], total=len(tasks))

    figure, n_shown = map_for(table_path, rule, kinds=kinds, categories=categories, search=search)
    if n_shown < len(tasks):
        st.caption(f"showing {n_shown} of {len(tasks)} tasks (filters in the sidebar)")
    if n_shown == 0:
        st.info("No task matches the filters.")
    selectable_map(figure, key=f"task_map_{st.session_state.get('map_version', 0)}")
    st.caption("Drag a box (or pick lasso in the chart's toolbar) to select tasks; double-click to clear.")

    chosen = selection_table(tasks, st.session_state.get(widgets.MAP_SELECTION, []))
    st.subheader(f"{len(chosen)} selected tasks")
    if len(chosen):
        columns = [c for c in ("task_id", "kind", "category", "region", "pu", "pp", "perplexity", "n_instances")
                   if c in chosen]
        st.dataframe(chosen[columns], hide_index=True, key="map_selection_table",
                     height=min(38 + 35 * len(chosen), 530), column_config={"pu": st.column_config.NumberColumn("PU", format="%.4f"),
                                    "pp": st.column_config.NumberColumn("PP", format="%.3f"),
                                    "perplexity": st.column_config.NumberColumn(format="%.2f")})
        left, middle, right = st.columns(3)
        if left.button(f"Send {len(chosen)} tasks to Curate", type="primary", key="send_selection"):
            added = widgets.send_to_curate(tasks, chosen["task_id"], added_from=f"map: {source}")
            st.session_state["curate_notice"] = f"{added} task(s) added from the map."
            st.switch_page("pages/curate.py")
        if middle.button("Open the first in Task detail", key="open_detail"):
            st.session_state[widgets.DETAIL_TASK] = chosen["task_id"].iloc[0]
            st.switch_page("pages/task_detail.py")
        if right.button("Clear selection", key="clear_selection"):
            st.session_state[widgets.MAP_SELECTION] = []
            st.session_state["map_version"] = st.session_state.get("map_version", 0) + 1  # a fresh chart, unselected
            st.rerun()
    else:
        st.caption("Nothing selected yet.")


with widgets.page_guard("the task map"):
    show()
