"""The findings' statistics on hand-built results with known answers: intervals, paired
comparisons, Holm, and the computed conclusion for each case (separated, not separated, reversed)."""

import numpy as np
import pandas as pd
import pytest

from core.loop.findings.analysis import analyze, conclude, verdict


def per_task_table(effects: dict[str, float], *, n_tasks=16, seeds=(0, 1, 2, 3, 4), noise=1.0, seed=0):
    """One row per (subset, seed, held-out task): a shared task effect (large: pairing removes it),
    the subset's effect, a small seed effect and noise. The base model has one row per task (seed -1)."""
    rng = np.random.default_rng(seed)
    task_effect = rng.normal(0, 10, n_tasks)
    rows = []
    for subset, effect in effects.items():
        for s in ([-1] if subset == "base" else seeds):
            seed_effect = 0.0 if subset == "base" else rng.normal(0, 0.3)
            for t in range(n_tasks):
                rows.append({"subset": subset, "seed": s, "task_id": f"task{t:02d}",
                             "kind": "classification" if t % 2 else "generation", "category": f"cat{t % 3}",
                             "rougeL": 40 + effect + task_effect[t] + seed_effect + rng.normal(0, noise),
                             "exact_match": 10.0, "n_instances": 5})
    return pd.DataFrame(rows)


def comparisons(a):
    return {(r["a"], r["b"]): r for r in a.comparisons.to_dict("records")}


def test_subset_means_intervals_and_counts():
    table = per_task_table({"base": -10, "ambiguous": 5, "easy": -12, "difficult": 0, "random": 0})
    a = analyze(table, subset_size=9)
    subsets = a.subsets.set_index("subset")
    assert list(subsets.index) == ["base", "ambiguous", "easy", "difficult", "random"]
    for s in subsets.index:
        assert subsets.loc[s, "mean"] == pytest.approx(table[table.subset == s].rougeL.mean())
        assert subsets.loc[s, "low"] < subsets.loc[s, "mean"] < subsets.loc[s, "high"]
    assert subsets.loc["ambiguous", "n_seeds"] == 5 and subsets.loc["base", "n_seeds"] == 0
    assert (subsets["n_tasks"] == 16).all()
    kinds = a.by_kind.set_index(["subset", "kind"])
    cls = table[(table.subset == "ambiguous") & (table.kind == "classification")].rougeL.mean()
    assert kinds.loc[("ambiguous", "classification"), "mean"] == pytest.approx(cls)
    assert set(a.by_category["category"]) == {"cat0", "cat1", "cat2"} and a.by_category["n_tasks"].sum() == 16
    assert len(a.per_task) == 16 and {"base", "ambiguous", "random"} <= set(a.per_task.columns)


def test_separated_the_paper_finding_is_supported():
    a = analyze(per_task_table({"base": -10, "ambiguous": 4, "easy": -11, "difficult": 0, "random": 0}), subset_size=9)
    c = comparisons(a)
    assert c[("ambiguous", "difficult")]["diff"] == pytest.approx(4, abs=0.6)
    assert c[("ambiguous", "difficult")]["low"] > 0 and c[("ambiguous", "difficult")]["p_holm"] < 0.05
    assert c[("ambiguous", "difficult")]["verdict"] == "ambiguous > difficult"
    assert c[("ambiguous", "random")]["verdict"] == "ambiguous > random"
    assert c[("difficult", "random")]["verdict"] == "not separated"
    assert c[("difficult", "random")]["low"] < 0 < c[("difficult", "random")]["high"]
    assert c[("easy", "base")]["verdict"] == "easy < base"
    assert a.headline == "supported"
    assert a.conclusion.startswith("At this scale the data support the paper's finding: ambiguous tasks beat both "
                                   "difficult and random ones. On 16 held-out tasks × 5 seeds (9 training tasks per "
                                   "subset): ambiguous beats difficult")
    assert "ambiguous beats difficult (+4." in a.conclusion
    assert "difficult and random are not separated" in a.conclusion
    assert "easy falls below base" in a.conclusion
    assert a.conclusion.endswith(").")


def test_not_separated_when_the_intervals_cross_zero():
    a = analyze(per_task_table({"base": 0, "ambiguous": 0.1, "easy": 0, "difficult": 0, "random": 0}, noise=3.0))
    c = comparisons(a)
    assert all(r["verdict"] == "not separated" for r in c.values())
    assert all(r["low"] < 0 < r["high"] for r in c.values())
    assert a.headline == "not separated"
    assert "ambiguous and difficult are not separated" in a.conclusion
    assert "do not separate ambiguous from difficult or random: the intervals include zero" in a.conclusion


def test_reversed_the_data_contradict_the_paper():
    a = analyze(per_task_table({"base": 0, "ambiguous": -4, "easy": 0, "difficult": 0, "random": 0}))
    assert comparisons(a)[("ambiguous", "difficult")]["verdict"] == "ambiguous < difficult"
    assert a.headline == "contradicted"
    assert "ambiguous falls below difficult" in a.conclusion
    assert "contradict the paper's finding: ambiguous falls below difficult and random" in a.conclusion


def test_partly_supported_and_holm_makes_a_borderline_difference_unseparated():
    a = analyze(per_task_table({"ambiguous": 4, "difficult": 0, "random": 3.8}))
    assert a.headline == "partly supported"
    assert "ambiguous beats difficult, but is not separated from random" in a.conclusion
    # Holm: an unadjusted p below 0.05 is not enough once several comparisons are made
    row = {"a": "x", "b": "y", "diff": 1.0, "p": 0.03, "p_holm": 0.09}
    assert verdict(row) == "not separated" and verdict({**row, "p_holm": 0.01}) == "x > y"


def test_paired_by_seed_and_task_and_base_paired_with_every_seed():
    table = per_task_table({"base": 0, "easy": 2, "ambiguous": 1, "difficult": 0})
    # a missing seed in one subset: the comparison uses the seeds both have
    table = table[~((table.subset == "difficult") & (table.seed == 4))]
    c = comparisons(analyze(table))
    assert c[("ambiguous", "difficult")]["n_seeds"] == 4
    assert c[("easy", "base")]["n_seeds"] == 5 and c[("easy", "base")]["n_tasks"] == 16
    easy = table[table.subset == "easy"].pivot(index="task_id", columns="seed", values="rougeL")
    base = table[table.subset == "base"].set_index("task_id").rougeL
    assert c[("easy", "base")]["diff"] == pytest.approx(easy.sub(base, axis=0).to_numpy().mean())


def test_incomplete_runs_say_what_is_missing():
    a = analyze(per_task_table({"base": 0, "easy": 2}))
    assert a.headline == "incomplete" and "needs the ambiguous, difficult and random subsets" in a.conclusion
    headline, sentence = conclude(a.comparisons, 12, 3, 5, demo=True)
    assert sentence.startswith("Quick demo at small scale. The paper's claim")
    assert sentence.endswith("On 12 held-out tasks × 3 seeds (5 training tasks per subset): easy beats base ("
                             + sentence.split("easy beats base (")[1])
