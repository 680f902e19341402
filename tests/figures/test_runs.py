"""A run's charts and policies over seeds (core.figures.runs)."""

import numpy as np
import pandas as pd

from core.figures.runs import latest_attempt, loss_figure, policy_curves_figure, rouge_figure


def test_run_charts():
    train = pd.DataFrame({"round": [0, 0, 1, 1], "step": [1, 2, 1, 2], "loss": [2.0, 1.5, 1.9, 1.2]})
    fig = loss_figure(train)
    assert [t.name for t in fig.data] == ["round 0", "round 1"]
    evals = pd.DataFrame({"round": [-1, 0, 1], "n_tasks": [0, 8, 16], "rougeL": [20.0, 30.0, 35.0],
                          "rougeL_classification": [25.0, 33.0, 37.0], "rougeL_generation": [18.0, 28.0, 33.0]})
    fig = rouge_figure(evals)
    assert [t.name for t in fig.data] == ["overall", "classification", "generation"]
    assert list(fig.data[0].x) == [0, 8, 16] and list(fig.data[0].y) == [20.0, 30.0, 35.0]


def test_policy_curves_figure_draws_band_and_mean_line():
    points = pd.DataFrame([{"policy": "uncertainty", "n_tasks": n, "rougeL": 40 + n / 4 + s}
                           for n in (8, 16, 24) for s in (0, 1, 2)])
    fig = policy_curves_figure(points, ["rougeL"], "std")
    band, line = fig.data
    assert band.fill == "toself" and len(band.x) == 6
    np.testing.assert_allclose(line.y, [41 + n / 4 for n in (8, 16, 24)])
    np.testing.assert_allclose(band.y[:3], np.asarray(line.y) + 1.0)  # std of (0, 1, 2) is 1
    assert "ROUGE-L" in fig.layout.yaxis.title.text


def test_resumed_rounds_show_only_the_latest_attempt():
    evals = pd.DataFrame({"round": [0, 1, 1, 2], "n_tasks": [8, 16, 16, 24], "rougeL": [30.0, 31.0, 33.0, 35.0],
                          "attempt": [1, 1, 2, 2]})
    kept = latest_attempt(evals, ["round"])
    assert list(kept["rougeL"]) == [30.0, 33.0, 35.0]
    assert list(rouge_figure(evals).data[0].y) == [30.0, 33.0, 35.0]
    train = pd.DataFrame({"round": [1, 1, 1], "step": [1, 2, 1], "loss": [2.0, 1.8, 1.9], "attempt": [1, 1, 2]})
    assert list(loss_figure(train).data[0].y) == [1.9]


def test_policy_and_group_names_are_escaped():
    points = pd.DataFrame([{"policy": "<b>mine</b>", "n_tasks": n, "rougeL": 40 + n + s} for n in (8, 16) for s in (0, 1)])
    fig = policy_curves_figure(points, ["rougeL"], "std")
    line = [t for t in fig.data if t.mode == "lines+markers"][0]
    assert line.name == line.meta == "&lt;b&gt;mine&lt;/b&gt;" and "<b>mine</b>" not in line.hovertemplate
    train = pd.DataFrame({"subset": ["<i>s</i>"] * 2, "seed": [0, 0], "step": [1, 2], "loss": [2.0, 1.0]})
    assert loss_figure(train).data[0].name == "subset &lt;i&gt;s&lt;/i&gt; · seed 0"
