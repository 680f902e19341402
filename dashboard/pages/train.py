"""Train: start an active instruction tuning loop, a single finetuning round on chosen tasks,
or the findings experiment, each in a background worker; watch loss and ROUGE-L live.

Runs are directories under <home>/runs: reloading the page or closing the tab neither stops
nor loses one, and every run is listed below with its state.
"""

import streamlit as st

from core.config import EvalConfig, FindingsConfig, LoopConfig, ScoreConfig, TrainConfig
from core.loop.policies import policy_names
from dashboard import data, jobs, widgets

st.title("Train")

MODES = ("Active learning loop", "Finetune once on chosen tasks", "Findings experiment")


def training_settings() -> tuple[TrainConfig, EvalConfig, ScoreConfig]:
    t, e, s = TrainConfig(), EvalConfig(), ScoreConfig()
    with st.expander("training, evaluation and scoring settings"):
        c1, c2, c3, c4 = st.columns(4)
        per_task = c1.number_input("training instances per task", 1, 10_000, t.max_instances_per_task, key="tr_inst")
        epochs = c2.number_input("epochs", 0.1, 100.0, float(t.epochs), 0.5, key="tr_epochs")
        lr = c3.number_input("learning rate", 1e-7, 1e-2, t.learning_rate, format="%.1e", key="tr_lr")
        batch = c4.number_input("batch size", 1, 512, t.batch_size, key="tr_batch")
        d1, d2, d3 = st.columns(3)
        eval_inst = d1.number_input("eval instances per task", 1, 1000, e.max_instances_per_task, key="tr_eval_inst")
        score_n = d2.number_input("scoring: instances per task (n)", 1, 200, s.n_instances, key="tr_score_n")
        score_k = d3.number_input("scoring: perturbed prompts (k)", 1, 50, s.n_perturbations, key="tr_score_k")
    return (TrainConfig(max_instances_per_task=int(per_task), epochs=float(epochs), learning_rate=float(lr),
                        batch_size=int(batch)),
            EvalConfig(max_instances_per_task=int(eval_inst)),
            ScoreConfig(n_instances=int(score_n), n_perturbations=int(score_k)))


def chosen_tasks() -> tuple[tuple[str, ...], tuple[str, ...], str] | None:
    """(task ids, the pool they come from, label) for a single finetuning round."""
    origin = st.radio("tasks", ["the last policy picks", "a saved Curate subset"], key="once_origin", horizontal=True)
    if origin == "the last policy picks":
        picks = st.session_state.get(widgets.POLICY_PICKS) or {}
        if not picks.get("task_ids"):
            st.info("No policy picks yet: choose a policy on the **Policies** page first.")
            return None
        ids, scored_set, label = tuple(picks["task_ids"]), picks.get("scored_set"), f"{picks['policy']}-picks"
    else:
        saved = data.list_subsets()
        if not saved:
            st.info("No saved subset yet: save one on the **Curate** page.")
            return None
        path = st.selectbox("subset", saved, format_func=lambda p: p.stem, key="once_subset")
        record = data.read_subset(path)
        ids, scored_set, label = tuple(record.get("task_ids", [])), record.get("scored_set"), f"subset-{path.stem}"
    sources = tuple(data.manifest(scored_set).get("sources") or ()) if data.exists_scored_set(scored_set) else ()
    if not sources:
        st.error("The tasks' scored set is missing or lists no sources, so the tasks cannot be loaded for training.")
        return None
    st.caption(f"{len(ids)} tasks from `{', '.join(sources)}`: {', '.join(ids[:8])}{' …' if len(ids) > 8 else ''}")
    return ids, sources, label


def show() -> None:
    rule = widgets.rule_controls()
    if pending := st.session_state.pop("train_run_started", None):
        st.session_state["train_run"] = pending

    with st.expander("Start a run", expanded=not any(data.run_config(r).get("kind") in ("loop", "findings")
                                                      for r in data.all_runs())):
        mode = st.radio("what to run", MODES, key="train_mode", horizontal=True)
        config, label, pool, picked = None, "", None, None
        if mode == MODES[1]:
            picked = chosen_tasks()
        else:
            pool = widgets.task_source_input("train_pool", allow_upload=False, label="task pool")
        eval_source = widgets.task_source_input("train_eval", allow_upload=False, label="held-out evaluation tasks")
        if eval_source is not None and eval_source == pool:
            st.warning("The evaluation tasks are the pool itself, so the scores are not on unseen tasks "
                       "(fine for a smoke test; for results, hold tasks out, e.g. with a split file).")
        model = widgets.model_input("train_model")
        if mode == MODES[0]:
            c1, c2, c3, c4, c5 = st.columns(5)
            policy = c1.selectbox("policy", [p for p in policy_names() if p != "curated"], key="loop_policy")
            seed = c2.number_input("seed", 0, 1_000_000, 0, key="loop_seed")
            initial = c3.number_input("initial tasks", 1, 10_000, LoopConfig.initial_tasks, key="loop_initial")
            per_round = c4.number_input("tasks per round", 1, 10_000, LoopConfig.per_round, key="loop_per_round")
            rounds = c5.number_input("selection rounds", 0, 50, LoopConfig.rounds, key="loop_rounds")
        elif mode == MODES[2]:
            c1, c2, c3 = st.columns(3)
            subsets = c1.multiselect("subsets", ["ambiguous", "easy", "difficult", "random"],
                                     default=["ambiguous", "easy", "difficult", "random"], key="find_subsets")
            size = c2.number_input("tasks per subset (0 = smallest region)", 0, 10_000, 0, key="find_size")
            seeds_text = c3.text_input("seeds", "0,1,2", key="find_seeds")
        train_cfg, eval_cfg, score_cfg = training_settings()

        problems = []
        if eval_source is None:
            problems.append("choose held-out evaluation tasks")
        if model is None:
            problems.append("choose a model")
        if mode == MODES[0] and pool is not None and eval_source and model:
            config = LoopConfig(pool=(pool,), eval_tasks=(eval_source,), model=model, policy=policy, seed=int(seed),
                                initial_tasks=int(initial), per_round=int(per_round), rounds=int(rounds),
                                score=score_cfg, train=train_cfg, eval=eval_cfg, rule=rule)
            label = f"{policy}-s{int(seed)}"
        elif mode == MODES[1] and picked and eval_source and model:
            ids, sources, label = picked
            config = LoopConfig(pool=sources, eval_tasks=(eval_source,), model=model, policy="curated", curated=ids,
                                initial_tasks=len(ids), initial_task_ids=ids, rounds=0, score=score_cfg,
                                train=train_cfg, eval=eval_cfg)
        elif mode == MODES[2] and pool is not None and eval_source and model:
            try:
                seeds = tuple(int(s) for s in seeds_text.replace(" ", "").split(",") if s)
            except ValueError:
                seeds = ()
                problems.append("seeds must be whole numbers separated by commas")
            if seeds and subsets:
                config = FindingsConfig(pool=(pool,), eval_tasks=(eval_source,), model=model, subsets=tuple(subsets),
                                        subset_size=int(size), seeds=seeds, score=score_cfg, train=train_cfg,
                                        eval=eval_cfg, rule=rule)
                label = "-".join(subsets)
        if st.button("Start run", type="primary", disabled=config is None, key="start_run"):
            started = jobs.start_run(config, label=label)
            st.session_state["train_run_started"] = started.name
            st.rerun()
        if config is None and problems:
            st.caption("To start: " + "; ".join(problems) + ".")

    st.subheader("Runs")
    runs = [r for r in data.all_runs() if data.run_config(r).get("kind") in ("loop", "findings")]
    if not runs:
        st.caption("No training run yet.")
        return
    widgets.live_runs_table(runs, key="train_runs_table")
    by_name = {r.name: r for r in runs}
    if st.session_state.get("train_run") not in by_name:  # default: a run still working, else the newest
        active = [r.name for r in runs if jobs.can_cancel(jobs.watched_status(r))]
        st.session_state["train_run"] = active[0] if active else runs[0].name
    run = by_name[st.selectbox("watch run", list(by_name), key="train_run")]
    widgets.live_run(run, charts=True)


with widgets.page_guard("the Train page"):
    show()
