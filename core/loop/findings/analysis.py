"""The findings' statistics: what the (held-out task x seed) scores support, in tables and one
computed sentence.

- Per subset: mean ROUGE-L with a 95% two-way bootstrap interval (held-out tasks and seeds
  resampled independently, seeded; core.statistics.mean_ci), the spread over seeds, per kind.
- Paired comparisons, as the claim is phrased (ambiguous − difficult, ambiguous − random,
  difficult − random, easy − base): the mean difference over the same held-out tasks and seeds,
  its two-way paired bootstrap interval and p-value (the primary test), Holm's adjustment over
  the comparisons made, and a Wilcoxon signed-rank test over held-out tasks as a check.
- A verdict per comparison and a conclusion sentence computed from them, never written by hand.
- Where a gain comes from: per kind (classification / generation), per category, per task.

Torch-free: the dashboard reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.statistics import BOOTSTRAP_SEED, LEVEL, N_BOOT, holm, mean_ci, paired_bootstrap, wilcoxon_tasks

SUBSET_ORDER = ("base", "ambiguous", "easy", "difficult", "random")
COMPARISONS = (("ambiguous", "difficult"), ("ambiguous", "random"), ("difficult", "random"), ("easy", "base"))
ALPHA = 0.05
METHODS = (
    f"Intervals: {LEVEL:.0%} percentile bootstrap, {N_BOOT:,} resamples (seed {BOOTSTRAP_SEED}), resampling held-out "
    "tasks and seeds independently (two-way), so an interval covers both which tasks are held out and how a subset "
    "was drawn and trained; the base model has no seed and resamples tasks only.",
    "Paired comparisons: the difference of two subsets on the same held-out tasks and seeds (the base model is "
    "paired with every seed), with the same two-way bootstrap; p-value two-sided, from the bootstrap distribution "
    "(twice the share of resampled differences on the far side of zero). Check: Wilcoxon signed-rank test over "
    "held-out tasks, each task's difference averaged over seeds.",
    f"Multiple comparisons: Holm's step-down adjustment over the comparisons made (family-wise error {ALPHA:.0%}). "
    f"A difference counts as separated when its Holm-adjusted bootstrap p-value is below {ALPHA}; its interval then "
    "excludes zero.",
)


@dataclass
class Analysis:
    metric: str
    subsets: pd.DataFrame       # one row per subset: mean, low, high, seed_std, n_seeds, n_tasks, per kind ...
    comparisons: pd.DataFrame   # one row per comparison: a, b, diff, low, high, p, p_holm, wilcoxon_p, verdict
    by_kind: pd.DataFrame       # subset, kind, mean, low, high, n_tasks, n_seeds
    by_category: pd.DataFrame   # category, n_tasks, one column per subset (mean over tasks and seeds)
    per_task: pd.DataFrame      # task_id, kind, category, one column per subset (mean over seeds)
    conclusion: str
    headline: str               # supported / partly supported / not separated / contradicted / incomplete
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                    for row in frame.to_dict("records")]

        return {"metric": self.metric, "conclusion": self.conclusion, "headline": self.headline, "notes": self.notes,
                "subsets": records(self.subsets), "comparisons": records(self.comparisons),
                "by_kind": records(self.by_kind), "by_category": records(self.by_category),
                "per_task": records(self.per_task), "methods": list(METHODS)}


def ordered(subsets) -> list[str]:
    rank = {s: i for i, s in enumerate(SUBSET_ORDER)}
    return sorted(set(subsets), key=lambda s: (rank.get(s, len(rank)), s))


def grid(per_task: pd.DataFrame, subset: str, metric: str = "rougeL", tasks=None) -> pd.DataFrame:
    """The (held-out task x seed) grid of one subset; seeds with a missing task are dropped
    (an unfinished run), so every cell is a score."""
    part = per_task[per_task["subset"] == subset]
    if tasks is not None:
        part = part[part["task_id"].isin(tasks)]
    table = part.pivot_table(index="task_id", columns="seed", values=metric, aggfunc="mean").sort_index()
    return table.dropna(axis=1, how="any")


def _paired_grids(per_task: pd.DataFrame, a: str, b: str, metric: str, tasks=None):
    ga, gb = grid(per_task, a, metric, tasks), grid(per_task, b, metric, tasks)
    common = ga.index.intersection(gb.index)
    ga, gb = ga.loc[common], gb.loc[common]
    if -1 not in ga.columns and -1 not in gb.columns:  # two trained subsets: the same seeds (-1: no seed)
        seeds = ga.columns.intersection(gb.columns)
        ga, gb = ga[seeds], gb[seeds]
    return ga, gb


def compare(per_task: pd.DataFrame, a: str, b: str, metric: str = "rougeL", tasks=None) -> dict | None:
    """a − b on the same held-out tasks and seeds (b with one column is paired with every seed)."""
    ga, gb = _paired_grids(per_task, a, b, metric, tasks)
    if ga.empty or gb.empty or ga.shape[1] == 0 or gb.shape[1] == 0:
        return None
    result = paired_bootstrap(ga.to_numpy(), gb.to_numpy())
    result["wilcoxon_p"] = wilcoxon_tasks(ga.to_numpy(), gb.to_numpy())["p"]
    return result


def verdict(row: dict) -> str:
    """"a > b" / "a < b" when separated (Holm-adjusted p < ALPHA), else "not separated"."""
    if row.get("p_holm") is None or np.isnan(row["p_holm"]) or row["p_holm"] >= ALPHA:
        return "not separated"
    return f"{row['a']} > {row['b']}" if row["diff"] > 0 else f"{row['a']} < {row['b']}"


def fmt_diff(row: dict) -> str:
    return (f"{row['diff']:+.1f} ROUGE-L, {LEVEL:.0%} CI {row['low']:+.1f} to {row['high']:+.1f}, "
            f"Holm-adjusted p = {fmt_p(row['p_holm'])}")


def fmt_p(p: float) -> str:
    if p is None or np.isnan(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _clause(row: dict) -> str:
    a, b = row["a"], row["b"]
    if row["verdict"] == "not separated":
        return f"{a} and {b} are not separated ({fmt_diff(row)})"
    higher = row["diff"] > 0
    return f"{a} {'beats' if higher else 'falls below'} {b} ({fmt_diff(row)})"


def conclude(comparisons: pd.DataFrame, n_tasks: int, n_seeds: int, subset_size: int | None,
             demo: bool = False, metric: str = "rougeL") -> tuple[str, str]:
    """(headline, sentence) from the comparisons' verdicts: what the data support at this scale."""
    rows = {(r["a"], r["b"]): r for r in comparisons.to_dict("records")}
    scale = (f"On {n_tasks} held-out task{'s' if n_tasks != 1 else ''} × {n_seeds} seed{'s' if n_seeds != 1 else ''}"
             + (f" ({subset_size} training tasks per subset)" if subset_size else ""))
    prefix = "Quick demo at small scale. " if demo else ""
    clauses = [_clause(rows[c]) for c in COMPARISONS if c in rows]
    key = [rows.get(("ambiguous", "difficult")), rows.get(("ambiguous", "random"))]
    if not any(key):
        headline = "incomplete"
        claim = ("The paper's claim (ambiguous beats difficult and random) needs the ambiguous, difficult and random "
                 "subsets; this run has not compared them.")
    else:
        present = [r for r in key if r]
        wins = [r for r in present if r["verdict"] == f"{r['a']} > {r['b']}"]
        losses = [r for r in present if r["verdict"] == f"{r['a']} < {r['b']}"]
        if losses:
            headline = "contradicted"
            claim = (f"At this scale the data contradict the paper's finding: ambiguous falls below "
                     f"{' and '.join(r['b'] for r in losses)}.")
        elif len(wins) == len(present) == 2:
            headline = "supported"
            claim = "At this scale the data support the paper's finding: ambiguous tasks beat both difficult and random ones."
        elif wins:
            headline = "partly supported"
            others = [r["b"] for r in present if r not in wins]
            claim = (f"At this scale the data partly support the paper's finding: ambiguous beats {wins[0]['b']}, but "
                     f"is not separated from {' and '.join(others) if others else 'the other subset'}"
                     f"{'' if len(present) == 2 else ' (the other comparison was not run)'}.")
        else:
            headline = "not separated"
            claim = ("At this scale the data do not separate ambiguous from "
                     f"{' or '.join(r['b'] for r in present)}: the intervals include zero, so this run can neither "
                     "confirm nor refute the paper's finding.")
    sentence = f"{prefix}{claim} {scale}: " + "; ".join(clauses) + "." if clauses else f"{prefix}{claim} {scale}."
    return headline, sentence


def analyze(per_task: pd.DataFrame, metric: str = "rougeL", subset_size: int | None = None,
            demo: bool = False) -> Analysis:
    """All the findings' statistics from the per-(subset, seed, held-out task) table."""
    subsets = ordered(per_task["subset"].unique())
    kinds = per_task.drop_duplicates("task_id").set_index("task_id")["kind"]
    rows, by_kind = [], []
    for s in subsets:
        g = grid(per_task, s, metric)
        if g.empty or g.shape[1] == 0:
            continue
        ci = mean_ci(g.to_numpy())
        seed_means = g.mean(axis=0)
        row = {"subset": s, "mean": ci["mean"], "low": ci["low"], "high": ci["high"],
               "seed_std": float(seed_means.std(ddof=1)) if len(seed_means) > 1 else float("nan"),
               "n_seeds": 0 if s == "base" else ci["n_seeds"], "n_tasks": ci["n_tasks"]}
        for kind in ("classification", "generation"):
            tasks = kinds[kinds == kind].index
            part = g.loc[g.index.intersection(tasks)]
            if len(part):
                kci = mean_ci(part.to_numpy())
                row[f"mean_{kind}"] = kci["mean"]
                by_kind.append({"subset": s, "kind": kind, "mean": kci["mean"], "low": kci["low"], "high": kci["high"],
                                "n_tasks": kci["n_tasks"], "n_seeds": 0 if s == "base" else kci["n_seeds"]})
            else:
                row[f"mean_{kind}"] = float("nan")
        if metric != "exact_match" and "exact_match" in per_task:
            row["exact_match"] = float(grid(per_task, s, "exact_match").to_numpy().mean())
        rows.append(row)
    subset_table = pd.DataFrame(rows)

    comps = []
    for a, b in COMPARISONS:
        if a in subsets and b in subsets:
            result = compare(per_task, a, b, metric)
            if result:
                comps.append({"a": a, "b": b, **result})
    comp_table = pd.DataFrame(comps, columns=["a", "b", "diff", "low", "high", "p", "wilcoxon_p", "n_tasks", "n_seeds"])
    comp_table["p_holm"] = holm(comp_table["p"].tolist()) if len(comp_table) else []
    comp_table["wilcoxon_p_holm"] = holm(comp_table["wilcoxon_p"].tolist()) if len(comp_table) else []
    comp_table["verdict"] = [verdict(r) for r in comp_table.to_dict("records")]

    trained = subset_table[subset_table["subset"] != "base"] if len(subset_table) else subset_table
    n_tasks = int(subset_table["n_tasks"].max()) if len(subset_table) else 0
    n_seeds = int(trained["n_seeds"].max()) if len(trained) else 0
    headline, sentence = conclude(comp_table, n_tasks, n_seeds, subset_size, demo, metric)

    means = per_task.groupby(["task_id", "subset"])[metric].mean().unstack("subset")
    meta = per_task.drop_duplicates("task_id").set_index("task_id")[["kind", "category"]]
    task_table = meta.join(means[[s for s in subsets if s in means]]).reset_index().sort_values(["kind", "task_id"])
    cat = per_task.groupby(["category", "subset"])[metric].mean().unstack("subset")
    cat = cat[[s for s in subsets if s in cat]]
    cat.insert(0, "n_tasks", per_task.drop_duplicates("task_id").groupby("category").size())
    cat_table = cat.reset_index().sort_values(["n_tasks", "category"], ascending=[False, True])

    notes = []
    if n_seeds and n_seeds < 3:
        notes.append(f"Only {n_seeds} seed(s): the seed axis of the bootstrap has little to resample; use 5 or more.")
    if n_tasks and n_tasks < 10:
        notes.append(f"Only {n_tasks} held-out tasks: intervals are wide and tests have little power.")
    return Analysis(metric, subset_table, comp_table.reset_index(drop=True), pd.DataFrame(by_kind), cat_table,
                    task_table.reset_index(drop=True), sentence, headline, notes)
