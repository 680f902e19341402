"""Form inputs derived from the config records (dashboard/widgets/forms.py): each described field
of a config becomes the widget its description calls for, with its label, help, bounds, choices
and default, so the Score and Train pages type none of them again."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import EvalConfig, LoopConfig, ScoreConfig, TrainConfig, options


def form_script(cls_name: str, prefix: str) -> None:
    import streamlit as st

    import core.config
    from dashboard.widgets import forms

    cls = getattr(core.config, cls_name)
    values = forms.config_inputs(cls, forms.described_fields(cls), key_prefix=prefix, columns=3)
    st.session_state["config"] = forms.replace(cls(), values)


@pytest.mark.parametrize("cls", [ScoreConfig, TrainConfig, EvalConfig, LoopConfig])
def test_every_described_field_becomes_its_widget(cls):
    at = AppTest.from_function(form_script, args=(cls.__name__, "f"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["config"] == cls()  # untouched inputs give the config's defaults
    for name, opt in options(cls).items():
        key = f"f_{name}"
        base = opt.type if opt.type in (bool, int, float) else str
        if opt.choices:
            widget = at.selectbox(key=key)
            assert list(widget.options) == [str(c) for c in opt.choices] and widget.value == opt.default
        elif base is bool:
            widget = at.checkbox(key=key)
            assert widget.value is opt.default
        elif base in (int, float):
            widget = at.number_input(key=key)
            assert widget.value == opt.default
            assert widget.min == (opt.min if opt.min is not None else widget.min)
            if opt.max is not None:
                assert widget.max == opt.max
        else:
            widget = at.text_input(key=key)
            assert widget.value == ("" if opt.default is None else opt.default)
        assert widget.label == opt.label and widget.help == opt.help


def test_changed_inputs_reach_the_config_and_bounds_hold():
    at = AppTest.from_function(form_script, args=("ScoreConfig", "s"), default_timeout=60).run()
    at.number_input(key="s_n_perturbations").set_value(3).run()
    at.selectbox(key="s_mode").set_value("TD").run()
    at.checkbox(key="s_audit").check().run()
    at.text_input(key="s_revision").input("main").run()
    config = at.session_state["config"]
    assert (config.n_perturbations, config.mode, config.audit, config.revision) == (3, "TD", True, "main")
    assert at.number_input(key="s_drop_prob").max == 0.95 and at.number_input(key="s_n_instances").min == 1
    at.text_input(key="s_revision").input("").run()
    assert at.session_state["config"].revision is None  # an optional text left empty is None


def test_pages_use_the_config_labels(app, home):
    """The Score page's settings are ScoreConfig's, labels and bounds included."""
    app.run()
    app.switch_page("views/score.py").run()
    k = app.number_input(key="score_n_perturbations")
    opt = options(ScoreConfig)["n_perturbations"]
    assert (k.label, k.min, k.value, k.help) == (opt.label, opt.min, opt.default, opt.help)
    app.switch_page("views/train.py").run()
    rounds = app.number_input(key="loop_rounds")
    opt = options(LoopConfig)["rounds"]
    assert (rounds.label, rounds.min, rounds.value) == (opt.label, opt.min, opt.default)
    lr = app.number_input(key="tr_train_learning_rate")
    assert lr.label == "training: " + options(TrainConfig)["learning_rate"].label
