"""Fixture data for the dashboard tests: a scored set and run directories written by hand.

These are UI fixtures in the exact on-disk formats the engine and the worker write (see
core.taskmap.results and core.loop.runs), built without a model so the dashboard tests need no torch:
  * a scored set of the built-in task suite, with k = 3 perturbations and 3 instances per task,
    whose PU/PP come from core.scoring.uncertainty.task_scores over hand-made per-sequence rows;
  * loop runs (several policies and seeds, done or running) with metrics.jsonl events and per-round
    selection / taskmap / eval files; a findings run with its report and results table.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import FindingsConfig, LoopConfig, RegionRule, ScoreConfig, run_config_to_dict, to_dict
from core.data.loaders import load_tasks
from core.io import atomic_write_json
from core.loop.runs import RunDir, create_run
from core.scoring.uncertainty import task_scores
from core.taskmap.regions import assign_regions
from core.taskmap.results import write_result

SET_NAME = "builtin__tiny-llama"
MODEL_NAME = "tiny-llama"


def _drop(words: list[str], p: float, rng: np.random.Generator) -> tuple[str, list[int]]:
    keep = rng.random(len(words)) >= p
    return " ".join(w for w, k in zip(words, keep) if k), [int(i) for i in np.flatnonzero(~keep)]


def make_scored_set(results_root: Path, name: str = SET_NAME, *, k: int = 3, n_instances: int = 3,
                    seed: int = 0, model: str = MODEL_NAME, source: str = "builtin") -> Path:
    """A scored set of a task source (default the built-in suite, 37 tasks) in results_root/name."""
    rng = np.random.default_rng(seed)
    loaded = load_tasks(source)
    assert loaded.tasks, [str(p) for p in loaded.problems]
    rows = []
    for t_index, task in enumerate(loaded.tasks):
        # a spread like the paper's figure: most tasks certain, a tail of prompt-sensitive ones
        pp_target = float(rng.beta(4, 2))
        pu_target = float(rng.gamma(1.3, 0.035)) if t_index % 5 else float(rng.uniform(0.12, 0.3))
        words = task.definition.split()
        variants = [(task.definition, [])] + [_drop(words, 0.2, rng) for _ in range(k)]
        for inst in task.instances[:n_instances]:
            p0 = float(np.clip(pp_target + rng.normal(0, 0.05), 0.02, 0.995))
            correct = rng.random() < pp_target
            prediction = inst.outputs[0] if correct else "I am not sure"
            for j, (definition, dropped) in enumerate(variants):
                prob = p0 if j == 0 else float(np.clip(p0 + rng.normal(0, pu_target * 1.25), 0.005, 0.999))
                rows.append({
                    "task_id": task.id, "instance_id": inst.id, "perturbation": j, "definition": definition,
                    "definition_dropped": dropped, "example_inputs": [e.input for e in task.examples[:2]],
                    "input": inst.input, "gold": list(inst.outputs), "prediction": prediction,
                    "n_tokens": len(prediction.split()) + 1, "mean_logprob": float(np.log(prob)), "prob": prob,
                    "truncated": False,
                })
    sequences = pd.DataFrame(rows)
    scores = task_scores(sequences)
    meta = pd.DataFrame({
        "task_id": [t.id for t in loaded.tasks], "kind": [t.kind for t in loaded.tasks],
        "categories": [list(t.categories) for t in loaded.tasks],
        "category": [t.categories[0] if t.categories else "" for t in loaded.tasks],
        "definition": [t.definition for t in loaded.tasks], "n_available": [len(t.instances) for t in loaded.tasks],
        "source": [t.source for t in loaded.tasks],
    })
    tasks = meta.merge(scores, on="task_id", how="left")
    tasks["region"] = assign_regions(tasks, RegionRule())
    config = ScoreConfig(model=model, n_instances=n_instances, n_perturbations=k)
    manifest = {
        "engine_version": "1", "run_key": "fixture", "config": to_dict(config),
        "model": {"name": model, "fingerprint": "fixture", "dtype": "float32", "device": "cpu", "prompt_style": "chat"},
        "sources": [str(source)], "n_tasks": len(tasks), "skipped": [], "region_rule": vars(RegionRule()),
        "created": "2025-01-01T00:00:00+0000",
    }
    out = Path(results_root) / name
    write_result(out, tasks, sequences, manifest)
    return out


def _rouge(policy: str, n_tasks: int, seed: int) -> float:
    gain = {"uncertainty": 0.9, "random": 0.6, "high-perplexity": 0.4, "low-perplexity": 0.5}.get(policy, 0.5)
    return round(30.0 + gain * n_tasks ** 0.5 * 3 + (seed - 0.5) * 0.8, 3)


def make_loop_run(runs_root: Path, run_id: str, scored_tasks: pd.DataFrame, *, policy: str = "uncertainty",
                  seed: int = 0, state: str = "done", rounds_done: int = 3, per_round: int = 6,
                  steps: int = 5, model: str = MODEL_NAME) -> RunDir:
    """A loop run: round r trains on (r + 1) * per_round tasks, logs `steps` loss records and one
    eval; rounds/<rr>/ holds selection.json/.parquet, taskmap.parquet and eval.parquet."""
    config = LoopConfig(pool=("builtin",), eval_tasks=("builtin",), model=model, policy=policy, seed=seed,
                        initial_tasks=per_round, per_round=per_round, rounds=max(rounds_done - 1, 0))
    run = create_run(runs_root, run_id, run_config_to_dict(config))
    rng = np.random.default_rng(seed + 100)
    t0 = time.time() - 3600
    metrics = [{"event": "eval", "round": -1, "n_tasks": 0, "rougeL": 28.0 + seed * 0.3, "rougeL_classification": 31.0,
                "rougeL_generation": 26.0, "exact_match": 12.0, "exact_match_classification": 20.0,
                "exact_match_generation": 8.0, "time": t0}]
    order = scored_tasks.sort_values("pu", ascending=False) if policy == "uncertainty" else \
        scored_tasks.sample(frac=1.0, random_state=seed)
    trained: list[str] = []
    for r in range(rounds_done):
        picks = [t for t in order["task_id"] if t not in trained][:per_round]
        metrics.append({"event": "select", "round": r, "policy": policy if r else "random", "task_ids": picks,
                        "time": t0 + r * 100})
        rd = run.round_dir(r)
        rd.mkdir(parents=True, exist_ok=True)
        pool = scored_tasks.copy()
        pool["pu"] = (pool["pu"] * (1 - 0.15 * r) + rng.normal(0, 0.004, len(pool))).clip(lower=0)
        pool["pp"] = (pool["pp"] + 0.04 * r + rng.normal(0, 0.01, len(pool))).clip(0, 1)
        pool["selected_before"] = pool["task_id"].isin(trained)
        pool["region"] = assign_regions(pool, RegionRule())
        pool.to_parquet(rd / "taskmap.parquet", index=False)
        atomic_write_json(rd / "selection.json", {"round": r, "policy": policy, "task_ids": picks, "shortfall": 0})
        pool[pool["task_id"].isin(picks)].to_parquet(rd / "selection.parquet", index=False)
        trained += picks
        for s in range(1, steps + 1):
            metrics.append({"event": "train", "round": r, "step": s, "loss": round(2.5 / (1 + 0.3 * s) + 0.05 * r, 4),
                            "lr": 1e-4, "epoch": s / steps * 2, "time": t0 + r * 100 + s})
        rouge = _rouge(policy, len(trained), seed)
        metrics.append({"event": "eval", "round": r, "n_tasks": len(trained), "rougeL": rouge,
                        "rougeL_classification": rouge + 4, "rougeL_generation": rouge - 3, "exact_match": rouge / 2,
                        "exact_match_classification": rouge / 1.5, "exact_match_generation": rouge / 3,
                        "time": t0 + r * 100 + 50})
        eval_tasks = scored_tasks.head(6)
        pd.DataFrame({"task_id": eval_tasks["task_id"], "kind": eval_tasks["kind"],
                      "rougeL": rng.uniform(10, 60, len(eval_tasks)), "exact_match": rng.uniform(0, 40, len(eval_tasks)),
                      "n_instances": 20}).to_parquet(rd / "eval.parquet", index=False)
    with open(run.metrics_path, "w") as f:
        for record in metrics:
            f.write(json.dumps(record) + "\n")
    now = time.time()
    status = {"state": state, "round": rounds_done - 1, "stage": "eval" if state == "done" else "train",
              "progress": {"done": rounds_done, "total": rounds_done + (0 if state == "done" else 1), "unit": "rounds"},
              "pid": os.getpid(), "host": os.uname().nodename, "started": now - 3600, "updated": now,
              "message": "finished" if state == "done" else f"training round {rounds_done}", "error": None,
              # a running fixture run must not read as interrupted while a test looks at it
              "heartbeat": now + 86400 if state == "running" else now}
    run.update_status(**status)
    return run


def make_findings_run(runs_root: Path, run_id: str, *, seeds=(0, 1, 2), model: str = MODEL_NAME) -> RunDir:
    config = FindingsConfig(pool=("builtin",), eval_tasks=("builtin",), model=model, seeds=tuple(seeds), subset_size=7)
    run = create_run(runs_root, run_id, run_config_to_dict(config))
    means = {"ambiguous": 41.0, "easy": 38.5, "difficult": 35.0, "random": 39.0}
    rows, metrics = [], []
    for subset, mean in means.items():
        for seed in seeds:
            value = mean + (seed - 1) * 0.9
            rows.append({"subset": subset, "seed": seed, "task_ids": [f"t{seed}"], "rougeL": value,
                         "rougeL_classification": value + 3, "rougeL_generation": value - 2, "exact_match": value / 2})
            metrics.append({"event": "eval", "round": 0, "subset": subset, "seed": seed, "n_tasks": 7, "rougeL": value,
                            "time": time.time()})
            for s in range(1, 4):
                metrics.append({"event": "train", "round": 0, "subset": subset, "seed": seed, "step": s,
                                "loss": 2.0 / s, "lr": 1e-4, "epoch": s, "time": time.time()})
    out = run.path / "findings"
    out.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(out / "results.parquet", index=False)
    (out / "report.md").write_text("# Findings: ambiguous vs difficult\n\nTraining on **ambiguous** tasks gave the "
                                   "highest held-out ROUGE-L (41.0 ± 0.9).\n")
    (out / "report.html").write_text("<html><body><h1>Findings</h1></body></html>")
    with open(run.metrics_path, "w") as f:
        for record in metrics:
            f.write(json.dumps(record) + "\n")
    run.update_status(state="done", round=0, stage="eval", progress={"done": 12, "total": 12, "unit": "trainings"},
                      pid=os.getpid(), host=os.uname().nodename, heartbeat=time.time(), message="finished", error=None)
    return run


@dataclass
class Home:
    root: Path
    scored_set: Path
    tasks: pd.DataFrame
    loop_runs: list[RunDir]
    running: RunDir
    findings: RunDir


def make_home(root: Path, *, runs: bool = True) -> Home:
    """A project home: data/, results/<set>, runs/ (4 done loop runs, 1 running, 1 findings), curated/."""
    root = Path(root)
    for name in ("data", "results", "runs", "curated"):
        (root / name).mkdir(parents=True, exist_ok=True)
    scored = make_scored_set(root / "results")
    tasks = pd.read_parquet(scored / "tasks.parquet")
    loops, running, findings = [], None, None
    if runs:
        for policy in ("uncertainty", "random"):
            for seed in (0, 1):
                loops.append(make_loop_run(root / "runs", f"loop-{policy}-s{seed}", tasks, policy=policy, seed=seed))
        running = make_loop_run(root / "runs", "loop-live", tasks, policy="uncertainty", seed=2, state="running",
                                rounds_done=2)
        findings = make_findings_run(root / "runs", "findings-demo")
    return Home(root, scored, tasks, loops, running, findings)


# --- task data that must stay text ----------------------------------------------------------------
# Every string below would become an element (or a link, a formula, a code span) if any page or
# figure let it be interpreted. Each payload carries a marker ("inj…") that appears in the DOM as the
# whole text of an element only if the payload was rendered as markup. (The heading's marker is two
# words: Task detail wraps single dropped words of a definition in spans of its own.)
INJECTED_WORDS = ("injbold", "injlink", "injital", "injstrong", "injmdlink", "injem", "injtick", "injmath",
                  "injheading here", "injsup", "injpolicy", "injrun", "injmodel", "injcat")
HOSTILE_MODEL = '<i class="inj">injmodel</i> $m^2$'
HOSTILE_POLICY = '<b class="inj">injpolicy</b>'
HOSTILE_RUN = 'loop-<i class="inj">injrun $r$'  # directory names: no "/", so the tags stay open
HOSTILE_SET = 'records__<b class="inj">injset **md** $x$'
LONG_ID = "long-" + "abcdefghij" * 24  # 245 characters, no space to break at


def hostile_records() -> list[dict]:
    """Self-Instruct-style records whose ids, definitions, inputs, outputs and categories hold HTML,
    Markdown, LaTeX, backticks, bare URLs and very long strings."""
    html = '<b class="inj">injbold</b> <a class="inj" href="#injlink">injlink</a> <i class="inj">injital</i>'
    markdown = "**injstrong** [injmdlink](https://inj.example/md) _injem_ `injtick` www.inj.example"
    latex = "$injmath^2$ and $$x$$ and \\(y\\)"
    ids = ['<b class="inj">injbold</b>', "`injtick` id", "**injstrong**", "$injmath$", "<sup class=inj>injsup</sup>",
           "[injmdlink](https://inj.example)", "_injem_ & <i>", LONG_ID, "plain-task-1", "plain-task-2"]
    records = []
    for i, task_id in enumerate(ids):
        definition = (f"Task {i}: answer yes or no. {html} {markdown} {latex}\n# injheading here\n"
                      + ("very long definition " * (60 if i == 7 else 2)))
        records.append({
            "id": task_id, "instruction": definition, "is_classification": i % 2 == 0,
            "categories": [f'<b class="inj">injcat</b> {i % 3}', "`injtick` **injstrong**"],
            "instances": [{"input": f"input {j}: {html} {latex} " + ("x" * 300 if j == 0 else ""),
                           "output": "yes" if j % 2 else f"no {markdown}"} for j in range(4)],
        })
    return records


def make_hostile_home(root: Path) -> Home:
    """A project home whose only scored set (named HOSTILE_SET, model HOSTILE_MODEL) comes from
    hostile_records(), with one loop run on it (run HOSTILE_RUN, policy HOSTILE_POLICY)."""
    root = Path(root)
    for name in ("data", "results", "runs", "curated"):
        (root / name).mkdir(parents=True, exist_ok=True)
    records = root / "data" / "hostile_records.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in hostile_records()))
    scored = make_scored_set(root / "results", HOSTILE_SET, model=HOSTILE_MODEL, source=str(records))
    tasks = pd.read_parquet(scored / "tasks.parquet")
    run = make_loop_run(root / "runs", HOSTILE_RUN, tasks, policy=HOSTILE_POLICY, rounds_done=2, per_round=3,
                        model=HOSTILE_MODEL)
    return Home(root, scored, tasks, [run], None, None)
