"""PU / PP / perplexity on hand-built probabilities (METHOD.md §3)."""

import math

import numpy as np
import pandas as pd
import pytest

from core.scoring.uncertainty import sequence_prob, task_scores


def rows(task, table):
    """table[instance] = [P_0, P_1, ..., P_k]"""
    out = []
    for inst, probs in table.items():
        for j, p in enumerate(probs):
            out.append({"task_id": task, "instance_id": inst, "perturbation": j, "prob": p, "n_tokens": 3,
                        "truncated": False})
    return out


def test_pu_pp_perplexity_by_hand():
    seq = pd.DataFrame(rows("a", {"x": [0.5, 0.4, 0.7], "y": [0.9, 0.9, 0.6]}) +
                       rows("b", {"x": [0.2, 0.2, 0.2]}))
    scores = task_scores(seq).set_index("task_id")
    # a: |0.4-0.5|, |0.7-0.5|, |0.9-0.9|, |0.6-0.9| -> (0.1+0.2+0+0.3)/4
    assert scores.loc["a", "pu"] == pytest.approx(0.15)
    assert scores.loc["a", "pp"] == pytest.approx(0.7)
    assert scores.loc["a", "perplexity"] == pytest.approx((1 / 0.5 + 1 / 0.9) / 2)
    assert scores.loc["a", "n_instances"] == 2
    assert scores.loc["a", "n_perturbations"] == 2
    assert scores.loc["a", "n_sequences"] == 6
    assert scores.loc["b", "pu"] == 0.0
    assert scores.loc["b", "pp"] == pytest.approx(0.2)
    assert scores.loc["b", "perplexity"] == pytest.approx(5.0)


def test_pu_uses_each_instances_own_p0():
    # same perturbed probabilities, different P_0: PU must pair them per instance
    seq = pd.DataFrame(rows("t", {"i1": [0.1, 0.3], "i2": [0.9, 0.3]}))
    assert task_scores(seq)["pu"].item() == pytest.approx((0.2 + 0.6) / 2)


def test_sequence_prob_is_geometric_mean_of_token_probs():
    token_probs = np.array([0.5, 0.25, 0.8])
    mean_lp, prob = sequence_prob(np.log(token_probs))
    assert prob == pytest.approx(float(np.prod(token_probs)) ** (1 / 3))
    assert mean_lp == pytest.approx(math.log(prob))


def test_pu_sem_is_spread_of_deltas():
    seq = pd.DataFrame(rows("t", {"i": [0.5, 0.6, 0.4, 0.5, 0.9]}))
    deltas = np.array([0.1, 0.1, 0.0, 0.4])
    got = task_scores(seq).iloc[0]
    assert got["pu"] == pytest.approx(deltas.mean())
    assert got["pu_sem"] == pytest.approx(deltas.std(ddof=1) / 2)
