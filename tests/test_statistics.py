"""Summaries over seeds (core.statistics)."""

import numpy as np
import pandas as pd
import pytest

from core.statistics import band, over_seeds


def test_mean_and_band_over_seeds():
    points = pd.DataFrame(
        [{"policy": "uncertainty", "n_tasks": n, "value": v} for n, vs in ((8, (40, 42, 44)), (16, (45, 45, 48)))
         for v in vs] + [{"policy": "random", "n_tasks": 8, "value": 41.0}])
    summary = over_seeds(points, ["policy", "n_tasks"], ["value"])
    curves = summary.set_index(["policy", "n_tasks"])
    assert curves.loc[("uncertainty", 8), "value"] == pytest.approx(42.0)
    assert curves.loc[("uncertainty", 8), "value_std"] == pytest.approx(2.0)
    assert curves.loc[("uncertainty", 16), "n"] == 3
    assert np.isnan(curves.loc[("random", 8), "value_std"])  # one seed: no spread, not a spread of 0
    lo, hi = band(summary, "value", "std")
    lo, hi = pd.Series(lo, index=curves.index), pd.Series(hi, index=curves.index)
    assert hi[("uncertainty", 8)] - 42.0 == pytest.approx(2.0)
    assert lo[("random", 8)] == hi[("random", 8)] == 41.0  # one seed: no band
    lo, hi = band(summary, "value", "minmax")
    assert (pd.Series(lo, index=curves.index)[("uncertainty", 16)], pd.Series(hi, index=curves.index)[("uncertainty", 16)]) == (45, 48)


def test_empty_frame_gives_empty_summary_with_columns():
    summary = over_seeds(pd.DataFrame(columns=["subset", "rougeL"]), ["subset"], ["rougeL"])
    assert summary.empty and {"subset", "rougeL", "rougeL_std", "n"} <= set(summary.columns)


# --- intervals, paired tests, Holm (known answers) ---------------------------------------------

from core.statistics import bootstrap_means, holm, mean_ci, paired_bootstrap, wilcoxon_tasks  # noqa: E402


def _paired_grids(rng, delta, n_tasks=14, n_seeds=5, task_sd=8.0, seed_sd=1.0, noise=2.0):
    """b and a = b + delta on the same (task x seed) grid: shared task effects (what pairing removes),
    seed effects per subset and per-cell noise."""
    task = rng.normal(30, task_sd, (n_tasks, 1))
    b = task + rng.normal(0, seed_sd, (1, n_seeds)) + rng.normal(0, noise, (n_tasks, n_seeds))
    a = task + delta + rng.normal(0, seed_sd, (1, n_seeds)) + rng.normal(0, noise, (n_tasks, n_seeds))
    return a, b


def test_mean_ci_is_reproducible_and_brackets_the_mean():
    grid = np.random.default_rng(3).normal(40, 5, (12, 4))
    first, again = mean_ci(grid), mean_ci(grid)
    assert first == again  # seeded: the same grid gives the same interval
    assert first["mean"] == pytest.approx(grid.mean()) and first["low"] < first["mean"] < first["high"]
    assert (first["n_tasks"], first["n_seeds"]) == (12, 4)
    assert mean_ci(grid, seed=1) != first  # another bootstrap seed, other draws


def test_bootstrap_resamples_tasks_and_seeds():
    """A grid that varies only across seeds still gets an interval (seeds are resampled), and one
    that varies only across tasks too; a constant grid gets none."""
    by_seed = np.tile([10.0, 20.0, 30.0], (8, 1))
    by_task = np.tile(np.arange(8.0)[:, None], (1, 3))
    assert np.ptp(bootstrap_means(by_seed, 500)) > 5 and np.ptp(bootstrap_means(by_task, 500)) > 1
    assert np.ptp(bootstrap_means(np.full((8, 3), 7.0), 500)) == 0
    one_seed = bootstrap_means(np.arange(10.0), 500)  # one column: tasks only
    assert one_seed.shape == (500,) and one_seed.mean() == pytest.approx(4.5, abs=0.3)


def test_paired_interval_covers_the_true_difference():
    """Over many simulated experiments with a known difference of 3, the 95% interval contains 3
    in most of them (the two-way bootstrap with 5 seeds is close to nominal, not exact)."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        a, b = _paired_grids(rng, 3.0)
        r = paired_bootstrap(a, b, n_boot=1000)
        hits += r["low"] <= 3.0 <= r["high"]
    assert hits / 200 >= 0.85


def test_paired_test_rejects_a_real_difference_that_unpaired_intervals_cannot_see():
    a, b = _paired_grids(np.random.default_rng(5), 3.0, task_sd=10.0, seed_sd=0.3, noise=1.0)
    ca, cb = mean_ci(a), mean_ci(b)
    assert ca["low"] < cb["high"]  # each subset's own interval overlaps the other's: task spread dominates
    r = paired_bootstrap(a, b)
    assert r["diff"] == pytest.approx((a - b).mean())
    assert r["low"] > 0 and r["p"] < 0.01  # pairing by task removes that spread
    assert wilcoxon_tasks(a, b)["p"] < 0.01


def test_paired_test_does_not_reject_without_a_difference():
    a, b = _paired_grids(np.random.default_rng(11), 0.0)
    r = paired_bootstrap(a, b)
    assert r["low"] < 0 < r["high"] and r["p"] > 0.05
    assert wilcoxon_tasks(a, b)["p"] > 0.05
    same = paired_bootstrap(b, b)
    assert (same["diff"], same["p"]) == (0.0, 1.0)
    assert wilcoxon_tasks(b, b) == {"statistic": 0.0, "p": 1.0, "n": 0}


def test_a_one_column_grid_is_paired_with_every_seed():
    """The base model has no seed: easy − base pairs each seed's score with the base score."""
    base = np.arange(10.0)[:, None]
    easy = base + np.array([[1.0, 2.0, 3.0]])
    r = paired_bootstrap(easy, base)
    assert r["diff"] == pytest.approx(2.0) and r["n_seeds"] == 3 and r["low"] >= 1.0 and r["high"] <= 3.0
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(np.zeros((4, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="missing"):
        mean_ci(np.array([[1.0, np.nan]]))


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.02, float("nan"), 0.01])
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
    assert holm([]) == []
