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
