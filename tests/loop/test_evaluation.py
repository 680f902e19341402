"""ROUGE-L and exact match against hand-computed values (NIV2's official definitions)."""

import pandas as pd
import pytest

from core.loop.evaluation import exact_match, normalize_answer, rouge_l, summarize


def test_rouge_l_by_hand():
    # LCS("the cat sat on the mat", "the cat lay on the mat") = 5 tokens (the cat on the mat)
    # precision = recall = 5/6 -> F = 5/6
    assert rouge_l("the cat sat on the mat", ["the cat lay on the mat"]) == pytest.approx(100 * 5 / 6)
    # prediction "a b c d", reference "a c": LCS 2, P = 2/4, R = 2/2, F = 2PR/(P+R) = 2/3
    assert rouge_l("a b c d", ["a c"]) == pytest.approx(100 * 2 / 3)
    # max over references, case-insensitive, punctuation ignored by the tokenizer
    assert rouge_l("Positive.", ["negative", "POSITIVE"]) == pytest.approx(100.0)
    assert rouge_l("nothing here", ["completely different"]) == 0.0


def test_rouge_l_uses_stemming():
    # "running" and "runs" both stem to "run"
    assert rouge_l("the dog is running", ["the dog runs"]) == pytest.approx(100 * 2 * (3 / 4) * 1 / (3 / 4 + 1))


def test_exact_match_normalisation():
    assert normalize_answer("  The  Answer, is: A!") == "answer is"
    assert exact_match("The answer is a.", ["answer is"]) == 100.0
    assert exact_match("POS", ["NEG", "pos"]) == 100.0
    assert exact_match("positive review", ["positive"]) == 0.0


def test_summary_weighs_tasks_equally_and_splits_kinds():
    per_instance = pd.DataFrame({
        "task_id": ["a", "a", "a", "b", "c"],
        "rougeL": [100.0, 0.0, 50.0, 20.0, 80.0],
        "exact_match": [100.0, 0.0, 0.0, 0.0, 100.0],
    })
    summary, per_task = summarize(per_instance, {"a": "classification", "b": "generation", "c": "generation"})
    assert per_task.set_index("task_id")["rougeL"].to_dict() == {"a": 50.0, "b": 20.0, "c": 80.0}
    assert summary["rougeL"] == pytest.approx(50.0)
    assert summary["rougeL_classification"] == pytest.approx(50.0)
    assert summary["rougeL_generation"] == pytest.approx(50.0)
    assert summary["exact_match"] == pytest.approx((100 / 3 + 0 + 100) / 3)
    assert summary["n_eval_tasks"] == 3
