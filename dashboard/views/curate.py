"""Curate: review chosen tasks (from the map, a policy, or by hand), keep notes, save named
subsets under <home>/curated/, and export them as a split list, a CSV or a task directory."""

import pandas as pd
import streamlit as st

from dashboard import curation, data, state
from dashboard.paths import curated_dir
from dashboard.text import escape, listing
from dashboard.widgets import pickers, rules
from dashboard.widgets.common import page_guard

st.title("Curate")

EDITOR_COLUMNS = {
    "include": st.column_config.CheckboxColumn("include", help="saved and exported when ticked"),
    "notes": st.column_config.TextColumn("notes", width="large"),
    "pu": st.column_config.NumberColumn("PU", format="%.4f"),
    "pp": st.column_config.NumberColumn("PP", format="%.3f"),
}


def fold_edits(editor_key: str) -> None:
    """Keep the editor's edits in the table itself, so they outlive this page."""
    state.replace_curate_table(curation.apply_editor_state(state.curate_table(), st.session_state.get(editor_key)))


def add_tasks(tasks: pd.DataFrame) -> None:
    """Buttons that add the map selection, the last policy picks, or tasks picked by id."""
    col_a, col_b, col_c = st.columns(3)
    selection = state.map_selection()
    if col_a.button(f"Add the map selection ({len(selection)})", disabled=not selection, key="add_selection"):
        state.set_notice(f"{state.send_to_curate(tasks, selection, 'map selection')} task(s) added from the map.")
        st.rerun()
    picks = state.policy_picks()
    if col_b.button(f"Add the last policy picks ({len(picks.get('task_ids', []))})",
                    disabled=not picks.get("task_ids"), key="add_picks",
                    help=f"policy {escape(picks.get('policy'))}" if picks else "pick tasks on the Policies page"):
        added = state.send_to_curate(tasks, picks["task_ids"], f"policy {picks.get('policy')}")
        state.set_notice(f"{added} task(s) added from the {picks.get('policy')} policy.")
        st.rerun()
    by_hand = col_c.multiselect("pick by id", sorted(tasks["task_id"]), key="add_by_hand", placeholder="type to search")
    if col_c.button("Add these", disabled=not by_hand, key="add_by_hand_button"):
        state.set_notice(f"{state.send_to_curate(tasks, by_hand, 'by hand')} task(s) added.")
        st.rerun()


def export(edited: pd.DataFrame, name: str, info) -> None:
    ids = list(edited.loc[edited["include"].fillna(False).astype(bool), "task_id"]) if not edited.empty else []
    stem = name.strip() or "subset"
    col_a, col_b, col_c = st.columns(3)
    col_a.download_button("NIV2 split list (.txt)", curation.split_bytes(ids), file_name=f"{stem}.txt",
                          mime="text/plain", disabled=not ids, key="download_split")
    col_b.download_button("table (.csv)", curation.csv_bytes(edited), file_name=f"{stem}.csv",
                          mime="text/csv", disabled=edited.empty, key="download_csv")
    if col_c.button("Write task directory", disabled=not ids or info is None, key="export_dir",
                    help="NIV2 task files under curated/<name>/tasks/, loaded from the scored set's sources"):
        try:
            record = curation.subset_record(name, edited, info.path)
        except ValueError as exc:
            st.error(escape(exc))
        else:
            sources = data.manifest(info.path).get("sources") or []
            if not sources:
                st.error("The scored set's manifest lists no task sources, so its tasks cannot be reloaded.")
            else:
                with st.spinner("loading tasks…"):
                    out, missing, loaded = curation.export_directory(curated_dir(), record, sources)
                st.success(f"Wrote {len(record['task_ids']) - len(missing)} task files to {escape(out)}.")
                if missing:
                    st.warning(f"{len(missing)} task(s) not found in {listing(sources)}: {listing(missing, 10)}")
                st.session_state[state.EXPORT_ZIP] = (out.parent.name, curation.zip_bytes(out.parent))
    if exported := st.session_state.get(state.EXPORT_ZIP):
        st.download_button(f"download {escape(exported[0])}.zip", exported[1], file_name=f"{exported[0]}.zip",
                           mime="application/zip", key="download_zip")


def show() -> None:
    info = pickers.scored_set_picker()
    rule = rules.rule_controls()
    tasks = data.tasks_with_rule(info.path / "tasks.parquet", rule) if info else pd.DataFrame(columns=["task_id"])
    if notice := state.take(state.NOTICE):
        st.success(escape(notice))

    with st.expander("Add tasks", expanded=state.curate_table().empty):
        add_tasks(tasks)

    table = state.curate_table()
    if table.empty:
        st.info("The table is empty. Select tasks on the **Task map**, pick them with a policy on "
                "**Policies**, add them by id above, or load a saved subset below.")
        edited = table
    else:
        editor_key = f"curate_editor_{st.session_state.get(state.CURATE_VERSION, 0)}"
        edited = st.data_editor(table, key=editor_key, num_rows="delete", hide_index=True,
                                disabled=["task_id", "kind", "region", "pu", "pp", "added_from"],
                                column_config=EDITOR_COLUMNS, on_change=fold_edits, args=(editor_key,))
        included = edited[edited["include"].fillna(False).astype(bool)]
        mix = included["region"].value_counts().to_dict()
        st.caption(f"{len(edited)} tasks in the table, **{len(included)} included** · "
                   + ", ".join(f"{escape(k)}: {v}" for k, v in sorted(mix.items())))
        if st.button("Clear the table", key="clear_table"):
            state.replace_curate_table(curation.empty_table())
            st.rerun()

    st.subheader("Save")
    name = st.text_input("subset name", key="subset_name", placeholder="e.g. ambiguous-hand-picked",
                         help="letters, digits, '.', '_' and '-'; saved as curated/<name>.json")
    if st.button("Save subset", type="primary", disabled=edited.empty, key="save_subset"):
        try:
            record = curation.subset_record(name, edited, info.path if info else None)
        except ValueError as exc:
            st.error(escape(exc))
        else:
            if not record["task_ids"]:
                st.error("No task is included; tick at least one.")
            else:
                path = curation.save_subset(curated_dir(), record)
                st.success(f"Saved {len(record['task_ids'])} tasks to {escape(path)}.")

    st.subheader("Load")
    saved = data.list_subsets()
    if not saved:
        st.caption("No saved subsets yet.")
    else:
        choice = st.selectbox("saved subset", saved, format_func=lambda p: p.stem, key="subset_to_load")
        record = data.read_subset(choice)
        st.caption(f"{len(record.get('task_ids', []))} tasks · from {escape(record.get('scored_set') or '?')} · "
                   f"saved {escape(record.get('created', '?'))}")
        col_a, col_b = st.columns(2)
        if col_a.button("Replace the table with it", key="load_replace"):
            state.replace_curate_table(curation.curate_rows(tasks, record["task_ids"], f"subset {record['name']}",
                                                            record.get("notes")))
            st.rerun()
        if col_b.button("Add it to the table", key="load_add"):
            state.send_to_curate(tasks, record["task_ids"], f"subset {record['name']}")
            st.rerun()

    st.subheader("Export")
    export(edited, name, info)


with page_guard("the Curate page"):
    show()
