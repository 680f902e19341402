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
