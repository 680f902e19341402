"""The paper's finding, reproduced: train on ambiguous tasks helps, on difficult ones it does not.

From one task map (the pool scored with the base model), train the base model on equal-size
subsets — the ambiguous, easy and difficult regions and random tasks — over several seeds,
evaluate each on held-out tasks, and write a report: a Markdown summary, HTML plots (ROUGE-L
per subset with its spread over seeds, the map with each subset marked) and the raw results.
A region larger than the subset size is sampled with the seed, so each subset's spread covers
both which tasks and how training went, as the random subset's does.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from core.config import FindingsConfig, RegionRule
from core.loop.policies import SelectionRequest, select
from core.loop.rounds import evaluate_cached, load_task_set, resolve_model_dir, score_pool, train_cached
from core.loop.runs import Cancelled, RunDir
from core.statistics import over_seeds


def subset_tasks(scores: pd.DataFrame, subset: str, size: int, seed: int, rule: RegionRule) -> list[str]:
    if subset == "random":
        return select(scores, SelectionRequest("random", size, seed=seed, quota="none")).task_ids
    region = scores[scores["region"] == subset]
    if len(region) <= size:
        return list(region["task_id"])
    rng = np.random.default_rng([seed, len(subset)])
    return sorted(region["task_id"].iloc[rng.choice(len(region), size, replace=False)])


class FindingsRunner:
    def __init__(self, run: RunDir, cfg: FindingsConfig, *, status, log, should_stop: Callable[[], bool],
                 attempt: int = 1):
        self.run, self.cfg, self.status, self.log, self.should_stop = run, cfg, status, log, should_stop
        self.attempt = attempt
        self.rule = cfg.rule
        self.out = run.path / "findings"

    def run_all(self) -> pd.DataFrame:
        cfg, started = self.cfg, time.time()
        self.out.mkdir(parents=True, exist_ok=True)
        pool = load_task_set(cfg.pool, cfg.pool_split, "pool", self.log)
        held_out = load_task_set(cfg.eval_tasks or cfg.pool, cfg.eval_split, "eval", self.log)
        by_id = {t.id: t for t in pool}
        base = resolve_model_dir(cfg.model)

        self.status(stage="score", round=None, progress=None)
        scores = score_pool(base, pool, cfg.score, self.rule,
                            lambda d, n, m: self.status(progress={"done": d, "total": n, "unit": "tasks"}))
        scores.to_parquet(self.out / "taskmap.parquet", index=False)
        sizes = {r: int((scores["region"] == r).sum()) for r in ("ambiguous", "easy", "difficult")}
        size = cfg.subset_size or max(1, min(sizes[s] for s in cfg.subsets if s in sizes) if sizes else 1)
        self.log(f"task map: {sizes}; subset size {size}")

        self.status(stage="eval base", progress=None)
        base_summary, _, _ = evaluate_cached(base, held_out, cfg.eval, cfg.score.dtype, should_stop=self.should_stop)
        rows = [{"subset": "base", "seed": -1, "n_tasks": 0, "task_ids": [], **base_summary}]
        self.run.append_metric("eval", subset="base", seed=-1, round=-1, n_tasks=0, attempt=self.attempt, **base_summary)

        jobs = [(seed, subset) for seed in cfg.seeds for subset in cfg.subsets]
        for i, (seed, subset) in enumerate(jobs):
            if self.should_stop():
                raise Cancelled()
            ids = subset_tasks(scores, subset, size, seed, self.rule)
            self.status(stage=f"train {subset} seed {seed}", round=i, progress={"done": i, "total": len(jobs), "unit": "trainings"})
            train_cfg = type(cfg.train)(**{**cfg.train.__dict__, "seed": seed})

            fields = {"subset": subset, "seed": seed, "round": i, "attempt": self.attempt}

            def on_log(rec, fields=fields):
                if not rec.pop("forwarded", False):  # a multi-process job logs its own records
                    self.run.append_metric("train", **fields, **rec)

            checkpoint = self.run.path / "checkpoints" / f"{subset}-s{seed}"
            job = {"sources": list(cfg.pool), "split": cfg.pool_split, "run_dir": str(self.run.path),
                   "metric_fields": fields}
            train_cached(base, [by_id[t] for t in ids], train_cfg, checkpoint, on_log=on_log,
                         should_stop=self.should_stop, log=self.log, job=job)
            self.status(stage=f"eval {subset} seed {seed}")
            summary, _, _ = evaluate_cached(checkpoint, held_out, cfg.eval, cfg.score.dtype, should_stop=self.should_stop)
            rows.append({"subset": subset, "seed": seed, "n_tasks": len(ids), "task_ids": ids, **summary})
            self.run.append_metric("eval", subset=subset, seed=seed, round=i, n_tasks=len(ids), attempt=self.attempt, **summary)
            self.log(f"{subset} seed {seed}: ROUGE-L {summary['rougeL']:.2f}")
        self.status(stage="report", round=None, progress=None)  # "round" counted trainings; done now
        results = pd.DataFrame(rows)
        results.to_parquet(self.out / "results.parquet", index=False)
        write_report(self.out, results, scores, cfg, self.rule, time.time() - started)
        return results


def aggregate(results: pd.DataFrame) -> pd.DataFrame:
    metrics = ["rougeL", "rougeL_classification", "rougeL_generation", "exact_match"]
    return over_seeds(results, ["subset"], metrics).rename(columns={"n": "runs"}).set_index("subset")


def write_report(out: Path, results: pd.DataFrame, scores: pd.DataFrame, cfg: FindingsConfig,
                 rule: RegionRule, seconds: float) -> None:
    from core.figures.findings import findings_bar_figure
    from core.figures.map import task_map_figure

    table = aggregate(results)
    order = [s for s in ("base", *cfg.subsets) if s in table.index]
    header = ["trained on", "ROUGE-L", "± std", "ROUGE-L cls", "ROUGE-L gen", "exact match", "runs"]
    rows = []
    for s in order:
        row = table.loc[s]
        std = "" if np.isnan(row["rougeL_std"]) else f"{row['rougeL_std']:.2f}"
        rows.append([s, f"{row['rougeL']:.2f}", std, f"{row['rougeL_classification']:.2f}",
                     f"{row['rougeL_generation']:.2f}", f"{row['exact_match']:.2f}", str(int(row["runs"]))])
    title = "Findings: which tasks help generalisation?"
    summary = (f"Model `{cfg.model}`; pool {', '.join(cfg.pool)} ({len(scores)} tasks); held-out "
               f"{', '.join(cfg.eval_tasks or cfg.pool)}; {len(cfg.seeds)} seeds; "
               f"{int(results[results.subset != 'base'].n_tasks.max())} tasks per subset; {seconds / 60:.1f} min.")
    notes = []
    if {"ambiguous", "difficult", "random"} <= set(table.index):
        amb, dif, rnd = (table.loc[s, "rougeL"] for s in ("ambiguous", "difficult", "random"))
        notes = [f"ambiguous − random: {amb - rnd:+.2f} ROUGE-L; difficult − random: {dif - rnd:+.2f}; "
                 f"ambiguous − difficult: {amb - dif:+.2f}.",
                 "The paper finds ambiguous > random > easy and difficult giving no benefit; with small pools "
                 "and few seeds the spread column says how much of a difference is noise."]
    lines = [f"# {title}", "", summary, "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if notes:
        lines += ["", *notes]
    (out / "report.md").write_text("\n".join(lines) + "\n")

    bars = findings_bar_figure(results)
    bars.update_layout(title="Held-out ROUGE-L by training subset (mean ± std over seeds)", height=420)
    marked = set(t for ids in results[results.subset != "base"].task_ids for t in ids)
    tmap = task_map_figure(scores, rule, title="Task map (base model); tasks used in any subset outlined",
                           highlight=marked)
    tmap.write_html(out / "map.html", include_plotlyjs=True)
    with open(out / "report.html", "w") as f:
        f.write("<html><head><meta charset='utf-8'><title>taskmap findings</title></head><body>")
        f.write("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
                "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
                "td:first-child{text-align:left}</style>")
        f.write(f"<h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p><table><tr>")
        f.write("".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        for r in rows:
            f.write("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
        f.write("</table>" + "".join(f"<p>{html.escape(n)}</p>" for n in notes))
        f.write(bars.to_html(full_html=False, include_plotlyjs=True))
        f.write(tmap.to_html(full_html=False, include_plotlyjs=False))
        f.write("</body></html>")
