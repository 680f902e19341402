"""Train: start an active instruction tuning loop, a single finetuning round on chosen tasks,
or the findings experiment, each in a background worker; watch loss and ROUGE-L live.

Runs are directories under <home>/runs: reloading the page or closing the tab neither stops
nor loses one, and every run is listed below with its state. The settings' labels, defaults,
bounds, choices and help come from the config records (LoopConfig, FindingsConfig, TrainConfig,
EvalConfig, ScoreConfig) themselves.
"""

import streamlit as st

from core.config import EvalConfig, FindingsConfig, LoopConfig, ScoreConfig, TrainConfig
from core.loop.policies import policy_names
from dashboard import data, jobs, state
from dashboard.text import listing
from dashboard.widgets import forms, rules, runs, sources
from dashboard.widgets.common import page_guard

st.title("Train")

LOOP, ONCE, FINDINGS = "Active learning loop", "Finetune once on chosen tasks", "Findings experiment"
TRAIN_MAIN = ("max_instances_per_task", "epochs", "learning_rate", "batch_size")
SCORE_FIELDS = ("n_instances", "n_perturbations", "drop_prob")


def settings(mode: str) -> tuple[TrainConfig, EvalConfig, ScoreConfig, dict]:
    """Training, evaluation and scoring settings (the findings experiment starts from its own
    smaller defaults), and for a loop how each round trains and keeps checkpoints."""
    base = FindingsConfig() if mode == FINDINGS else LoopConfig()
    prefix = "find" if mode == FINDINGS else "tr"
    with st.expander("training, evaluation and scoring settings"):
        train = forms.config_inputs(TrainConfig, TRAIN_MAIN, key_prefix=f"{prefix}_train", defaults=base.train,
                                    label_prefix="training: ")
        evaluation = forms.config_inputs(EvalConfig, forms.described_fields(EvalConfig), key_prefix=f"{prefix}_eval",
                                         defaults=base.eval, label_prefix="evaluation: ")
        score = forms.config_inputs(ScoreConfig, SCORE_FIELDS, key_prefix=f"{prefix}_score", defaults=base.score,
                                    label_prefix="scoring: ")
        st.caption("more training settings")
        train |= forms.config_inputs(TrainConfig, forms.described_fields(TrainConfig, exclude=TRAIN_MAIN),
                                     key_prefix=f"{prefix}_train", defaults=base.train, label_prefix="training: ")
        loop = forms.config_inputs(LoopConfig, ("retrain_from", "keep_checkpoints"), key_prefix="loop") \
            if mode != FINDINGS else {}
    return (forms.replace(base.train, train), forms.replace(base.eval, evaluation), forms.replace(base.score, score),
            loop)


def chosen_tasks() -> tuple[tuple[str, ...], tuple[str, ...], str] | None:
    """(task ids, the pool they come from, label) for a single finetuning round."""
    origin = st.radio("tasks", ["the last policy picks", "a saved Curate subset"], key="once_origin", horizontal=True)
    if origin == "the last policy picks":
        picks = state.policy_picks()
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
    pool = tuple(data.manifest(scored_set).get("sources") or ()) if data.exists_scored_set(scored_set) else ()
    if not pool:
        st.error("The tasks' scored set is missing or lists no sources, so the tasks cannot be loaded for training.")
        return None
    st.caption(f"{len(ids)} tasks from {listing(pool)}: {listing(ids, 8)}")
    return ids, pool, label


def start_form(rule) -> None:
    mode = st.radio("what to run", (LOOP, ONCE, FINDINGS), key="train_mode", horizontal=True)
    pool = picked = None
    if mode == ONCE:
        picked = chosen_tasks()
    else:
        pool = sources.task_source_input("train_pool", allow_upload=False, label="task pool")
    eval_source = sources.task_source_input("train_eval", allow_upload=False, label="held-out evaluation tasks")
    if eval_source is not None and eval_source == pool:
        st.warning("The evaluation tasks are the pool itself, so the scores are not on unseen tasks "
                   "(fine for a smoke test; for results, hold tasks out, e.g. with a split file).")
    model = sources.model_input("train_model")
    loop_defaults, findings_defaults = LoopConfig(), FindingsConfig()
    if mode == LOOP:
        c1, c2 = st.columns([1, 4])
        policy = c1.selectbox("policy", [p for p in policy_names() if p != "curated"], key="loop_policy")
        seed = c1.number_input("seed", 0, None, loop_defaults.seed, key="loop_seed")
        with c2:
            schedule = forms.config_inputs(LoopConfig, ("initial_tasks", "per_round", "rounds"), key_prefix="loop",
                                           columns=3)
    elif mode == FINDINGS:
        c1, c2, c3 = st.columns(3)
        subsets = c1.multiselect("subsets", list(findings_defaults.subsets), default=list(findings_defaults.subsets),
                                 key="find_subsets")
        size = forms.config_input(FindingsConfig, "subset_size", key="find_subset_size", where=c2)
        seeds_text = c3.text_input("seeds", ",".join(str(s) for s in findings_defaults.seeds), key="find_seeds")
    train_cfg, eval_cfg, score_cfg, loop_settings = settings(mode)

    config, label, problems = None, "", []
    if eval_source is None:
        problems.append("choose held-out evaluation tasks")
    if model is None:
        problems.append("choose a model")
    common = dict(eval_tasks=(eval_source,), model=model, score=score_cfg, train=train_cfg, eval=eval_cfg)
    if mode == LOOP and pool is not None and eval_source and model:
        config = LoopConfig(pool=(pool,), policy=policy, seed=int(seed), rule=rule, **schedule, **loop_settings,
                            **common)
        label = f"{policy}-s{int(seed)}"
    elif mode == ONCE and picked and eval_source and model:
        ids, pool_sources, label = picked
        config = LoopConfig(pool=pool_sources, policy="curated", curated=ids, initial_tasks=len(ids),
                            initial_task_ids=ids, rounds=0, **loop_settings, **common)
    elif mode == FINDINGS and pool is not None and eval_source and model:
        try:
            seeds = tuple(int(s) for s in seeds_text.replace(" ", "").split(",") if s)
        except ValueError:
            seeds = ()
            problems.append("seeds must be whole numbers separated by commas")
        if seeds and subsets:
            config = FindingsConfig(pool=(pool,), subsets=tuple(subsets), subset_size=size, seeds=seeds, rule=rule,
                                    **common)
            label = "-".join(subsets)
    if st.button("Start run", type="primary", disabled=config is None, key="start_run"):
        st.session_state[state.TRAIN_RUN_STARTED] = jobs.start_run(config, label=label).name
        st.rerun()
    if config is None and problems:
        st.caption("To start: " + "; ".join(problems) + ".")


def show() -> None:
    rule = rules.rule_controls()
    if started := state.take(state.TRAIN_RUN_STARTED):
        st.session_state[state.TRAIN_RUN] = started
    training_runs = [r for r in data.all_runs() if data.run_config(r).get("kind") in ("loop", "findings")]
    with st.expander("Start a run", expanded=not training_runs):
        start_form(rule)

    st.subheader("Runs")
    if not training_runs:
        st.caption("No training run yet.")
        return
    runs.live_runs_table(training_runs, key="train_runs_table")
    by_name = {r.name: r for r in training_runs}
    if st.session_state.get(state.TRAIN_RUN) not in by_name:  # default: a run still working, else the newest
        active = [r.name for r in training_runs if jobs.can_cancel(jobs.watched_status(r))]
        st.session_state[state.TRAIN_RUN] = active[0] if active else training_runs[0].name
    run = by_name[st.selectbox("watch run", list(by_name), key=state.TRAIN_RUN)]
    runs.live_run(run, charts=True)


with page_guard("the Train page"):
    show()
