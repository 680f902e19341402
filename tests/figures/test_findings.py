"""The findings experiment's chart (core.figures.findings)."""

import numpy as np
import pandas as pd
import pytest

from core.figures.findings import findings_bar_figure, findings_summary


def test_findings_bar_mean_std_in_paper_order():
    results = pd.DataFrame([{"subset": s, "seed": seed, "rougeL": base + seed}
                            for s, base in (("random", 39), ("difficult", 35), ("ambiguous", 41), ("easy", 38))
                            for seed in (0, 1, 2)])
    summary = findings_summary(results)
    assert list(summary["subset"]) == ["ambiguous", "easy", "difficult", "random"]
    assert summary.set_index("subset").loc["ambiguous", "mean"] == pytest.approx(42.0)
    fig = findings_bar_figure(results)
    np.testing.assert_allclose(fig.data[0].error_y.array, [1.0] * 4)
