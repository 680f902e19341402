"""Curate: review chosen tasks (from the map, a policy, or by hand), keep notes, save named
subsets under <home>/curated/, and export them as a split list, a CSV or a task directory."""

import pandas as pd
import streamlit as st

from dashboard import curation, data, widgets
from dashboard.paths import curated_dir

st.title("Curate")

TABLE, VERSION = widgets.CURATE_TABLE, widgets.CURATE_VERSION


def fold_edits(editor_key: str) -> None:
    """Keep the editor's edits in the table itself, so they outlive this page."""
    st.session_state[TABLE] = curation.apply_editor_state(widgets.curate_table(), st.session_state.get(editor_key))
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1


def replace_table(table: pd.DataFrame) -> None:
    st.session_state[TABLE] = table
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1


def show() -> None:
    info = widgets.scored_set_picker()
    rule = widgets.rule_controls()
    tasks = data.tasks_with_rule(info.path / "tasks.parquet", rule) if info else pd.DataFrame(columns=["task_id"])
    if notice := st.session_state.pop("curate_notice", None):
        st.success(notice)

    with st.expander("Add tasks", expanded=widgets.curate_table().empty):
        col_a, col_b, col_c = st.columns(3)
        selection = st.session_state.get(widgets.MAP_SELECTION, [])
        if col_a.button(f"Add the map selection ({len(selection)})", disabled=not selection, key="add_selection"):
            added = widgets.send_to_curate(tasks, selection, "map selection")
            st.session_state["curate_notice"] = f"{added} task(s) added from the map."
            st.rerun()
        picks = st.session_state.get(widgets.POLICY_PICKS) or {}
        if col_b.button(f"Add the last policy picks ({len(picks.get('task_ids', []))})",
                        disabled=not picks.get("task_ids"), key="add_picks",
                        help=f"policy {picks.get('policy')}" if picks else "pick tasks on the Policies page"):
            added = widgets.send_to_curate(tasks, picks["task_ids"], f"policy {picks.get('policy')}")
            st.session_state["curate_notice"] = f"{added} task(s) added from the {picks.get('policy')} policy."
            st.rerun()
        by_hand = col_c.multiselect("pick by id", sorted(tasks["task_id"]), key="add_by_hand",
                                    placeholder="type to search")
        if col_c.button("Add these", disabled=not by_hand, key="add_by_hand_button"):
            added = widgets.send_to_curate(tasks, by_hand, "by hand")
            st.session_state["curate_notice"] = f"{added} task(s) added."
            st.rerun()

    table = widgets.curate_table()
    if table.empty:
        st.info("The table is empty. Select tasks on the **Task map**, pick them with a policy on "
                "**Policies**, add them by id above, or load a saved subset below.")
        edited = table
    else:
        editor_key = f"curate_editor_{st.session_state.get(VERSION, 0)}"
        edited = st.data_editor(
            table, key=editor_key, num_rows="delete", hide_index=True,
            disabled=["task_id", "kind", "region", "pu", "pp", "added_from"],
            column_config={
                "include": st.column_config.CheckboxColumn("include", help="saved and exported when ticked"),
                "notes": st.column_config.TextColumn("notes", width="large"),
                "pu": st.column_config.NumberColumn("PU", format="%.4f"),
                "pp": st.column_config.NumberColumn("PP", format="%.3f"),
            },
            on_change=fold_edits, args=(editor_key,))
        included = edited[edited["include"].fillna(False).astype(bool)]
        mix = included["region"].value_counts().to_dict()
        st.caption(f"{len(edited)} tasks in the table, **{len(included)} included** · "
                   + ", ".join(f"{k}: {v}" for k, v in sorted(mix.items())))
        if st.button("Clear the table", key="clear_table"):
            replace_table(curation.empty_table())
            st.rerun()

    st.subheader("Save")
    name = st.text_input("subset name", key="subset_name", placeholder="e.g. ambiguous-hand-picked",
                         help="letters, digits, '.', '_' and '-'; saved as curated/<name>.json")
    if st.button("Save subset", type="primary", disabled=edited.empty, key="save_subset"):
        try:
            record = curation.subset_record(name, edited, info.path if info else None)
        except ValueError as exc:
            st.error(str(exc))
        else:
            if not record["task_ids"]:
                st.error("No task is included; tick at least one.")
            else:
                path = curation.save_subset(curated_dir(), record)
                st.success(f"Saved {len(record['task_ids'])} tasks to `{path}`.")

    st.subheader("Load")
    saved = data.list_subsets()
    if not saved:
        st.caption("No saved subsets yet.")
    else:
        choice = st.selectbox("saved subset", saved, format_func=lambda p: p.stem, key="subset_to_load")
        record = data.read_subset(choice)
        st.caption(f"{len(record.get('task_ids', []))} tasks · from `{record.get('scored_set') or '?'}` · "
                   f"saved {record.get('created', '?')}")
        col_a, col_b = st.columns(2)
        if col_a.button("Replace the table with it", key="load_replace"):
            replace_table(curation.curate_rows(tasks, record["task_ids"], f"subset {record['name']}", record.get("notes")))
            st.rerun()
        if col_b.button("Add it to the table", key="load_add"):
            widgets.send_to_curate(tasks, record["task_ids"], f"subset {record['name']}")
            st.rerun()

    st.subheader("Export")
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
            st.error(str(exc))
        else:
            sources = data.manifest(info.path).get("sources") or []
            if not sources:
                st.error("The scored set's manifest lists no task sources, so its tasks cannot be reloaded.")
            else:
                with st.spinner("loading tasks…"):
                    out, missing, loaded = curation.export_directory(curated_dir(), record, sources)
                st.success(f"Wrote {len(record['task_ids']) - len(missing)} task files to `{out}`.")
                if missing:
                    st.warning(f"{len(missing)} task(s) not found in {sources}: {', '.join(missing[:10])}")
                st.session_state["export_zip"] = (out.parent.name, curation.zip_bytes(out.parent))
    if exported := st.session_state.get("export_zip"):
        st.download_button(f"download {exported[0]}.zip", exported[1], file_name=f"{exported[0]}.zip",
                           mime="application/zip", key="download_zip")


with widgets.page_guard("the Curate page"):
    show()
