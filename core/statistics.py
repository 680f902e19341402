"""Summaries over seeds, one way everywhere: the CLI's tables, the reports and the dashboard's
charts all take their means and spreads from here.

A spread needs two values: with one seed the standard deviation is NaN (shown as nothing,
drawn as no band), never 0, which would claim a result that does not vary.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def over_seeds(frame: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per group of `by`: each metric's mean, `<metric>_std` (ddof 1), `<metric>_min`,
    `<metric>_max`, and `n` (rows in the group), one row per group, sorted by `by`."""
    by = list(by)
    columns = by + [f"{m}{s}" for m in metrics for s in ("", "_std", "_min", "_max")] + ["n"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    grouped = frame.groupby(by, sort=True, dropna=False)
    parts = []
    for m in metrics:
        values = grouped[m]
        parts += [values.mean().rename(m), values.std(ddof=1).rename(f"{m}_std"),
                  values.min().rename(f"{m}_min"), values.max().rename(f"{m}_max")]
    parts.append(grouped.size().rename("n"))
    return pd.concat(parts, axis=1).reset_index()[columns]


def band(summary: pd.DataFrame, metric: str, spread: str = "std") -> tuple[np.ndarray, np.ndarray]:
    """(low, high) around each row's mean: ±1 std ("std") or the range ("minmax"); no band
    (low = high = mean) where there is no spread to show."""
    mean = summary[metric].to_numpy(dtype=float)
    if spread == "minmax":
        return summary[f"{metric}_min"].to_numpy(dtype=float), summary[f"{metric}_max"].to_numpy(dtype=float)
    std = np.nan_to_num(summary[f"{metric}_std"].to_numpy(dtype=float))
    return mean - std, mean + std


# --- intervals and paired comparisons ------------------------------------------------------------
#
# A findings score is a grid: one value per (held-out task, seed). Both axes are samples: the
# held-out tasks from the tasks a model should generalise to, the seeds from the ways a subset can
# be drawn and trained. The bootstrap below resamples both at once (tasks with replacement, seeds
# with replacement, independently), so an interval is as wide as either source of noise makes it,
# and a paired comparison resamples the two subsets' grids with the same draws.

LEVEL = 0.95
N_BOOT = 10_000
BOOTSTRAP_SEED = 0


def _grid(values) -> np.ndarray:
    grid = np.asarray(values, dtype=float)
    if grid.ndim == 1:
        grid = grid[:, None]
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(f"expected a (tasks x seeds) grid of values, got shape {grid.shape}")
    if np.isnan(grid).any():
        raise ValueError("the grid has missing values: every (task, seed) cell needs a score")
    return grid


def bootstrap_means(values, n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Means of `n_boot` two-way bootstrap resamples of a (tasks x seeds) grid: tasks and seeds
    are drawn with replacement, independently; a one-column grid (one seed, or a model with no
    seed such as the base model) resamples tasks only. Seeded: the same grid gives the same draws."""
    grid = _grid(values)
    n_tasks, n_seeds = grid.shape
    rng = np.random.default_rng(seed)
    row_counts = rng.multinomial(n_tasks, np.full(n_tasks, 1.0 / n_tasks), size=n_boot).astype(float)
    if n_seeds == 1:
        return row_counts @ grid[:, 0] / n_tasks
    col_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot).astype(float)
    return ((row_counts @ grid) * col_counts).sum(axis=1) / (n_tasks * n_seeds)


def mean_ci(values, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED) -> dict:
    """Mean of a (tasks x seeds) grid with its percentile bootstrap interval (see bootstrap_means):
    {mean, low, high, n_tasks, n_seeds}."""
    grid = _grid(values)
    boot = bootstrap_means(grid, n_boot, seed)
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return {"mean": float(grid.mean()), "low": float(low), "high": float(high),
            "n_tasks": int(grid.shape[0]), "n_seeds": int(grid.shape[1])}


def paired_bootstrap(a, b, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = BOOTSTRAP_SEED) -> dict:
    """Mean difference a − b of two (tasks x seeds) grids paired cell by cell, with its two-way
    bootstrap interval and a two-sided bootstrap p-value (twice the share of resampled mean
    differences on the far side of zero, the interval inverted; floored at 1/(n_boot+1)).

    `b` may have one column (e.g. the base model, which has no seed): it is then paired with
    every seed of `a`. {diff, low, high, p, n_tasks, n_seeds}."""
    a, b = _grid(a), _grid(b)
    if b.shape[1] == 1 and a.shape[1] > 1:
        b = np.repeat(b, a.shape[1], axis=1)
    if a.shape[1] == 1 and b.shape[1] > 1:
        a = np.repeat(a, b.shape[1], axis=1)
    if a.shape != b.shape:
        raise ValueError(f"paired grids must have the same shape, got {a.shape} and {b.shape}")
    diff = a - b
    boot = bootstrap_means(diff, n_boot, seed)
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    below, above = (np.sum(boot <= 0) + 1) / (n_boot + 1), (np.sum(boot >= 0) + 1) / (n_boot + 1)
    p = 1.0 if not diff.any() else float(min(1.0, 2 * min(below, above)))
    return {"diff": float(diff.mean()), "low": float(low), "high": float(high), "p": p,
            "n_tasks": int(diff.shape[0]), "n_seeds": int(diff.shape[1])}


def wilcoxon_tasks(a, b) -> dict:
    """Wilcoxon signed-rank test over held-out tasks: each task's a − b averaged over seeds (the
    seeds of one task are not independent, so the task is the unit). Two-sided; tasks whose
    difference is exactly 0 are dropped (Wilcoxon's rule). {statistic, p, n}."""
    from scipy.stats import wilcoxon

    a, b = _grid(a).mean(axis=1), _grid(b).mean(axis=1)
    if a.shape != b.shape:
        raise ValueError(f"paired values must have the same length, got {a.shape} and {b.shape}")
    d = a - b
    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return {"statistic": 0.0, "p": 1.0, "n": 0}
    result = wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
    return {"statistic": float(result.statistic), "p": float(result.pvalue), "n": int(len(nonzero))}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (controls the family-wise error rate): the i-th smallest p
    times (m − i), made monotone, capped at 1; NaN stays NaN and does not count."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m, running = len(order), 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, p[idx] * (m - i)))
        out[idx] = running
    return out.tolist()
