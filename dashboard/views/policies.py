"""Policies: what a selection policy would pick from a scored set, on the map, and how two
policies' picks differ (overlap, Jaccard, region mix)."""

import streamlit as st

from core.figures.task import region_mix_figure
from core.loop.policies import SelectionRequest, policy_names, select
from core.taskmap.regions import region_counts
from dashboard import data, nav, state
from dashboard.maps import map_for
from dashboard.text import escape
from dashboard.widgets import pickers, rules
from dashboard.widgets.common import page_guard

st.title("Policies")

HELP = {
    "uncertainty": "highest prompt uncertainty first (the paper's method)",
    "random": "a seeded shuffle",
    "high-perplexity": "highest mean perplexity of the greedy output first",
    "low-perplexity": "lowest mean perplexity first",
    "ambiguous": "tasks of the ambiguous region, strongest first",
    "easy": "tasks of the easy region, strongest first",
    "difficult": "tasks of the difficult region, strongest first",
    "curated": "a saved Curate subset, in its order",
}
QUOTAS = {"pool share": "pool", "ignore kinds": "none", "fixed share": None}
PICK_COLUMNS = ["pick_rank", "task_id", "kind", "region", "pu", "pp", "perplexity"]


def policy_form(column, label: str, key: str, default_policy: str, pool_size: int, rule):
    """Policy, size, seed and quota inputs; returns a SelectionRequest (or None, with a message)."""
    names = policy_names()
    with column:
        st.markdown(f"**{label}**")
        policy = st.selectbox("policy", names, index=names.index(default_policy), key=f"{key}_policy",
                              format_func=lambda p: f"{p} — {HELP.get(p, '')}")
        n = st.number_input("tasks to pick", 1, max(1, pool_size), min(8, max(1, pool_size)), key=f"{key}_n")
        seed = st.number_input("seed", 0, 10_000, 0, key=f"{key}_seed")
        quota_mode = st.radio("classification / generation quota", list(QUOTAS), key=f"{key}_quota", horizontal=True,
                              help="select within the classification and generation sub-pools separately "
                                   "(the paper: 24 + 44 of 68)")
        quota = QUOTAS[quota_mode]
        if quota is None:
            quota = st.slider("classification share", 0.0, 1.0, 0.35, 0.01, key=f"{key}_share")
        curated = ()
        if policy == "curated":
            saved = data.list_subsets()
            if not saved:
                st.warning("No saved subset yet: save one on the Curate page.")
                return None
            subset = st.selectbox("subset", saved, format_func=lambda p: p.stem, key=f"{key}_subset")
            curated = tuple(data.read_subset(subset).get("task_ids", []))
    return SelectionRequest(policy=policy, n=int(n), seed=int(seed), quota=quota, curated=curated, rule=rule)


def run_policy(tasks, request):
    try:
        return select(tasks, request)
    except ValueError as exc:
        st.error(f"{escape(request.policy)}: {escape(exc)}")
        return None


def show() -> None:
    info = pickers.scored_set_picker()
    rule = rules.rule_controls()
    if info is None:
        return
    table_path = info.path / "tasks.parquet"
    tasks = data.tasks_with_rule(table_path, rule)
    st.caption(f"**{escape(info.name)}** · {len(tasks)} tasks · regions by the {rule.method} rule (sidebar)")

    compare = st.toggle("compare with a second policy", key="compare_policies")
    col_a, col_b = st.columns(2) if compare else (st.container(), None)
    request_a = policy_form(col_a, "Policy A", "pa", "uncertainty", len(tasks), rule)
    request_b = policy_form(col_b, "Policy B", "pb", "random", len(tasks), rule) if compare else None

    pick_a = run_policy(tasks, request_a) if request_a else None
    pick_b = run_policy(tasks, request_b) if request_b else None
    if pick_a is None:
        return
    for request, pick in ((request_a, pick_a), (request_b, pick_b)):
        if pick is not None and pick.shortfall:
            st.warning(f"{escape(request.policy)}: {pick.shortfall} fewer task(s) than asked for were available.")
    st.session_state[state.POLICY_PICKS] = {
        "policy": request_a.policy, "n": request_a.n, "seed": request_a.seed, "quota": request_a.quota,
        "task_ids": pick_a.task_ids, "scored_set": str(info.path)}

    highlight = set(pick_a.task_ids)
    if pick_b is not None:
        shown = st.radio("highlight on the map", ["A", "B", "both"], horizontal=True, key="highlight_which")
        highlight = {"A": set(pick_a.task_ids), "B": set(pick_b.task_ids),
                     "both": set(pick_a.task_ids) | set(pick_b.task_ids)}[shown]
        overlap = len(set(pick_a.task_ids) & set(pick_b.task_ids))
        union = len(set(pick_a.task_ids) | set(pick_b.task_ids))
        m1, m2, m3 = st.columns(3)
        m1.metric("overlap", f"{overlap} tasks", help="picked by both policies")
        m2.metric("Jaccard", f"{overlap / union:.2f}" if union else "–", help="|A ∩ B| / |A ∪ B|")
        m3.metric("picked by one only", union - overlap)
    figure, _ = map_for(table_path, rule, highlight=highlight)
    st.plotly_chart(figure, key="policy_map", theme=None)

    panes = [("A", request_a, pick_a)] + ([("B", request_b, pick_b)] if pick_b is not None else [])
    for (label, request, pick), col in zip(panes, st.columns(len(panes))):
        with col:
            st.markdown(f"**{label}: {escape(request.policy)}** picks {len(pick.task_ids)} tasks")
            st.plotly_chart(region_mix_figure(region_counts(pick.table["region"]) if len(pick.table) else {},
                                              title=f"region mix of {request.policy}"), key=f"mix_{label}", theme=None)
            st.dataframe(pick.table[[c for c in PICK_COLUMNS if c in pick.table]], hide_index=True,
                         key=f"picks_{label}")
            if st.button(f"Send {label}'s picks to Curate", key=f"send_{label}", disabled=not pick.task_ids):
                added = state.send_to_curate(tasks, pick.task_ids, f"policy {request.policy}")
                state.set_notice(f"{added} task(s) added from the {request.policy} policy.")
                st.switch_page(nav.CURATE)


with page_guard("the Policies page"):
    show()
