"""Prompt format and seeded word-drop perturbations (METHOD.md §1-2)."""

import numpy as np
import pytest

from core.data.prompts import CUE, TAIL, drop_words, make_variants, render_prompt, sample_instances, task_rng
from core.data.tasks import Example
from tests.conftest import make_task


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(word in it for word in small)


def test_tk_instruct_format():
    task = make_task(n_examples=3)
    variant = make_variants(task, k=1, p=0.2, mode="TDTE", seed=0)[0]
    text = render_prompt(variant, "Is it raining")
    assert text == (
        "Definition: In this task, you are given a sentence. Answer with yes or no about the cat.\n\n"
        " Positive Example 1 -\nInput: The cat sat on mat number 0.\n Output: yes.\n\n"
        " Positive Example 2 -\nInput: The cat sat on mat number 1.\n Output: yes.\n\n"
        "Now complete the following example -\nInput: Is it raining.\nOutput: "
    )
    assert CUE in text and text.endswith(TAIL)
    # fields already ending in punctuation get no extra period
    assert "Input: Is it raining?\nOutput: " in render_prompt(variant, "Is it raining?")


def test_perturbed_text_is_subsequence_of_original_words():
    text = "Classify the following movie review as positive or negative , using only these two words ."
    for seed in range(50):
        dropped_text, dropped = drop_words(text, 0.2, np.random.default_rng(seed))
        words = text.split()
        assert is_subsequence(dropped_text.split(), words)
        assert len(dropped_text.split()) == len(words) - len(dropped)
        assert [w for i, w in enumerate(words) if i not in set(dropped)] == dropped_text.split()


def test_drop_rate_is_close_to_p():
    text = " ".join(f"w{i}" for i in range(200))
    rng = np.random.default_rng(0)
    rates = [len(drop_words(text, 0.2, rng)[1]) / 200 for _ in range(200)]
    assert np.mean(rates) == pytest.approx(0.2, abs=0.01)
    assert np.mean([len(drop_words(text, 0.5, rng)[1]) / 200 for _ in range(200)]) == pytest.approx(0.5, abs=0.01)


def test_variants_reproducible_and_independent_of_pool_order():
    a, b = make_task("task_a"), make_task("task_b")
    first = make_variants(a, k=10, p=0.2, mode="TDTE", seed=3)
    again = make_variants(a, k=10, p=0.2, mode="TDTE", seed=3)
    assert first == again
    # scoring b before a (another pool order) changes nothing: each task has its own RNG streams
    make_variants(b, k=10, p=0.2, mode="TDTE", seed=3)
    assert make_variants(a, k=10, p=0.2, mode="TDTE", seed=3) == first
    assert make_variants(a, k=10, p=0.2, mode="TDTE", seed=4) != first
    # different tasks with identical text still get different perturbations (seeded by task id)
    twin = make_task("task_a_twin")
    assert [v.definition for v in make_variants(twin, k=10, p=0.2, mode="TDTE", seed=3)] != [v.definition for v in first]


def test_variant_zero_is_original_and_modes_touch_the_right_parts():
    task = make_task(n_examples=4)
    tdte = make_variants(task, k=8, p=0.3, mode="TDTE", seed=0)
    assert tdte[0].definition == task.definition and tdte[0].examples == task.examples[:2]
    assert len(tdte) == 9
    assert any(v.definition != task.definition for v in tdte[1:])
    assert any(v.examples[0].input != task.examples[0].input for v in tdte[1:])
    assert all(v.examples[i].output == task.examples[i].output for v in tdte for i in range(2))

    td = make_variants(task, k=8, p=0.3, mode="TD", seed=0)
    assert all(v.examples == task.examples[:2] for v in td)
    assert any(v.definition != task.definition for v in td[1:])

    te = make_variants(task, k=8, p=0.3, mode="TE", seed=0)
    assert all(v.definition == task.definition for v in te)
    assert all(len(v.examples) == 2 and set(v.examples) <= set(task.examples) for v in te)
    assert any(v.examples != task.examples[:2] for v in te[1:])


def test_dropped_positions_recorded_for_display():
    task = make_task()
    for v in make_variants(task, k=5, p=0.3, mode="TDTE", seed=1)[1:]:
        words = task.definition.split()
        kept = [w for i, w in enumerate(words) if i not in set(v.definition_dropped)]
        assert " ".join(kept) == v.definition
        for ex, orig, dropped in zip(v.examples, task.examples, v.example_dropped):
            assert " ".join(w for i, w in enumerate(orig.input.split()) if i not in set(dropped)) == ex.input


def test_instance_sample_seeded_and_ordered():
    task = make_task(n_instances=30)
    sample = sample_instances(task, 10, seed=0)
    assert len(sample) == 10 and len(set(sample)) == 10
    assert sample == sample_instances(task, 10, seed=0)
    assert sample != sample_instances(task, 10, seed=1)
    positions = [task.instances.index(i) for i in sample]
    assert positions == sorted(positions)
    assert sample_instances(make_task(n_instances=4), 10, seed=0) == make_task(n_instances=4).instances


def test_task_rng_streams_differ():
    assert task_rng(0, "t", 1).random() != task_rng(0, "t", 2).random()
    assert task_rng(0, "t", 1).random() == task_rng(0, "t", 1).random()


def test_no_examples_prompt():
    task = make_task(n_examples=0)
    v = make_variants(task, k=2, p=0.2, mode="TDTE", seed=0)
    assert "Positive Example" not in render_prompt(v[0], "x")
    assert Example("a", "b") not in v[0].examples
