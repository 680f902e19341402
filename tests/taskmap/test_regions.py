"""The region rule: explicit, adjustable, rank-based by default, threshold as an option."""

import numpy as np
import pandas as pd
import pytest

from core.config import RegionRule
from core.taskmap.regions import assign_regions, fit_rule, region_counts


def grid_tasks(n=100, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"task_id": [f"t{i}" for i in range(n)], "pu": rng.uniform(0, 0.2, n),
                         "pp": rng.uniform(0, 1, n)})


def test_rank_rule_sizes_follow_fractions():
    tasks = grid_tasks(100)
    counts = region_counts(assign_regions(tasks, RegionRule(ambiguous_frac=0.2, easy_frac=0.1, difficult_frac=0.15)))
    assert counts == {"ambiguous": 20, "easy": 10, "difficult": 15, "other": 55}


def test_rank_rule_semantics():
    tasks = grid_tasks(200, seed=1)
    regions = assign_regions(tasks)
    amb = tasks[regions == "ambiguous"]
    rest = tasks[regions != "ambiguous"]
    assert amb["pu"].min() > rest["pu"].max()  # ambiguous = the highest PU
    easy, difficult = tasks[regions == "easy"], tasks[regions == "difficult"]
    assert easy["pp"].mean() > 0.6 > 0.4 > difficult["pp"].mean()
    assert easy["pu"].mean() < amb["pu"].mean() and difficult["pu"].mean() < amb["pu"].mean()


def test_easy_difficult_border_is_diagonal():
    """A confident task with moderate PU can be easy; the same PU with lower PP cannot."""
    tasks = grid_tasks(300, seed=2)
    fitted = fit_rule(tasks["pu"], tasks["pp"])
    pu_mid = float(np.quantile(tasks["pu"], 0.35))
    assert fitted.classify([pu_mid], [0.99])[0] == "easy"
    assert fitted.classify([0.0], [0.99])[0] == "easy"
    assert fitted.classify([0.0], [0.01])[0] == "difficult"
    assert fitted.classify([0.5], [0.5])[0] == "ambiguous"


def test_fitted_rule_classifies_its_own_data_identically():
    tasks = grid_tasks(150, seed=3)
    fitted = fit_rule(tasks["pu"], tasks["pp"])
    assert (fitted.classify(tasks["pu"], tasks["pp"]) == assign_regions(tasks).to_numpy()).all()


def test_threshold_rule_uses_paper_cutoffs():
    tasks = pd.DataFrame({"task_id": list("abcde"), "pu": [0.2, 0.01, 0.01, 0.05, 0.02],
                          "pp": [0.5, 0.9, 0.5, 0.9, 0.78]})
    regions = list(assign_regions(tasks, RegionRule(method="threshold")))
    assert regions == ["ambiguous", "easy", "difficult", "other", "other"]


def test_rule_validates_parameters():
    with pytest.raises(ValueError):
        RegionRule(method="box")
    with pytest.raises(ValueError):
        RegionRule(ambiguous_frac=0.6, easy_frac=0.6)


def test_tiny_pools():
    one = pd.DataFrame({"task_id": ["a"], "pu": [0.1], "pp": [0.5]})
    assert len(assign_regions(one)) == 1
    zero_fracs = RegionRule(ambiguous_frac=0, easy_frac=0, difficult_frac=0)
    assert set(assign_regions(grid_tasks(10), zero_fracs)) == {"other"}
