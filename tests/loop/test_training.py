"""Finetuning: answer-only loss, seeded determinism, and the multi-process path (accelerate launch)."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from core.config import LoopConfig, TrainConfig, run_config_to_dict
from core.data.encoding import PromptEncoder
from core.data.loaders import load_tasks
from core.loop.rounds import train_cached
from core.loop.runs import create_run
from core.loop.training import _collate, finetune, length_grouped_order, training_examples

CFG = TrainConfig(max_instances_per_task=3, epochs=1, batch_size=4, warmup_steps=1, max_source_tokens=256)


def builtin(n):
    return load_tasks("builtin").tasks[:n]


def test_examples_use_the_scoring_prompt_and_mask_the_prompt(tiny_causal_dir):
    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)
    encoder = PromptEncoder(tok, False, 256, 16)
    examples = training_examples(builtin(2), encoder, CFG)
    assert len(examples) == 6
    prompt, answer = examples[0]
    text = tok.decode(prompt)
    assert text.startswith("<|im_start|>") and "Definition: " in text and text.endswith("<|im_start|>assistant\n")
    assert answer[-1] == tok.convert_tokens_to_ids("<|im_end|>")
    batch = _collate(examples[:3], tok.pad_token_id, seq2seq=False)
    for r, (p, a) in enumerate(examples[:3]):
        labels = batch["labels"][r]
        assert (labels[: len(p)] == -100).all()                      # no loss on the prompt
        assert labels[len(p): len(p) + len(a)].tolist() == list(a)   # loss on the answer
        assert (labels[len(p) + len(a):] == -100).all()              # nor on padding
        assert batch["attention_mask"][r].sum() == len(p) + len(a)


def test_length_grouped_order_is_seeded_and_covers_everything():
    lengths = list(range(100))
    a = length_grouped_order(lengths, 8, seed=0, epoch=0)
    assert sorted(i for b in a for i in b) == list(range(100))
    assert a == length_grouped_order(lengths, 8, seed=0, epoch=0)
    assert a != length_grouped_order(lengths, 8, seed=0, epoch=1)


def _weights(path):
    return load_file(str(path / "model.safetensors"))


def test_training_is_deterministic_and_moves_the_weights(tiny_causal_dir, tmp_path):
    tasks = builtin(3)
    logs = []
    a = finetune(tiny_causal_dir, tasks, CFG, tmp_path / "a", on_log=logs.append)
    b = finetune(tiny_causal_dir, tasks, CFG, tmp_path / "b")
    c = finetune(tiny_causal_dir, tasks, TrainConfig(**{**CFG.__dict__, "seed": 1}), tmp_path / "c")
    wa, wb, wc = _weights(a.checkpoint), _weights(b.checkpoint), _weights(c.checkpoint)
    base = _weights(tiny_causal_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    assert any(not torch.equal(wa[k], base[k]) for k in wa)
    assert a.steps == 3 and [r["step"] for r in logs] == [1, 2, 3]
    info = json.loads((a.checkpoint / "taskmap_checkpoint.json").read_text())
    assert info["tasks"] == [t.id for t in tasks] and info["examples"] == 9 and info["train_config"]["seed"] == 0


def test_cancel_between_steps(tiny_causal_dir, tmp_path):
    from core.loop.runs import Cancelled
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(Cancelled):
        finetune(tiny_causal_dir, builtin(3), CFG, tmp_path / "x", should_stop=stop)
    assert not (tmp_path / "x").exists()  # no half-written checkpoint


@pytest.mark.slow
def test_two_process_training_under_accelerate_launch(tiny_causal_dir, tmp_path, monkeypatch):
    """The multi-GPU path, exercised with two CPU processes (gloo): same code, same launcher."""
    monkeypatch.setenv("TASKMAP_CACHE", str(tmp_path / "cache"))
    run = create_run(tmp_path / "runs", "ddp", run_config_to_dict(LoopConfig()))
    tasks = builtin(4)
    cfg = TrainConfig(**{**CFG.__dict__, "processes": 2})
    forwarded = []
    checkpoint, reused = train_cached(
        tiny_causal_dir, tasks, cfg, run.path / "ckpt", on_log=forwarded.append,
        job={"sources": ["builtin"], "split": None, "run_dir": str(run.path), "metric_fields": {"round": 0}})
    assert not reused and (checkpoint / "model.safetensors").is_file()
    info = json.loads((checkpoint / "taskmap_checkpoint.json").read_text())
    assert info["tasks"] == [t.id for t in tasks] and info["train_config"]["processes"] == 2
    # 12 examples, 4 per process per step, 2 processes: 2 steps, logged once each by the main process
    train_events = run.metrics("train")
    assert [e["step"] for e in train_events] == [1, 2] and all(e["round"] == 0 for e in train_events)
    assert any(not torch.equal(v, _weights(tiny_causal_dir)[k]) for k, v in _weights(checkpoint).items())
