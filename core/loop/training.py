"""Finetuning on selected tasks (METHOD.md §5), with `accelerate` so one code path runs on a
CPU, one GPU, or several: with TrainConfig.processes > 1 the worker runs this module as a job
under `accelerate launch` (`python -m core.loop.training SPEC.json`), one process per GPU, while
scoring and evaluation stay in the worker's single process.

Training examples use exactly the prompt format the engine scores with (the unperturbed prompt:
definition + positive examples + instance, in the model's chat template), and the loss covers
the answer tokens only. Batches are length-grouped (shuffled, then sorted within mega-batches)
so padding stays small; everything random is seeded, so a round retrained after an interruption
gives the same weights.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from core.config import TrainConfig, to_dict
from core.data.encoding import PromptEncoder
from core.data.prompts import PromptVariant, task_rng
from core.data.tasks import Task
from core.loop.runs import Cancelled

StepCallback = Callable[[dict], None]
TRAIN_STREAM = 2_000_003  # the RNG stream (see prompts.task_rng) that picks training instances




@dataclass
class TrainResult:
    checkpoint: Path
    steps: int
    examples: int
    final_loss: float
    seconds: float


def training_examples(tasks: Sequence[Task], encoder: PromptEncoder, cfg: TrainConfig) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids) per training instance: a seeded sample of each task's instances."""
    examples = []
    for task in tasks:
        rng = task_rng(cfg.seed, task.id, TRAIN_STREAM)
        picked = sorted(rng.permutation(len(task.instances))[: cfg.max_instances_per_task])
        variant = PromptVariant(0, task.definition, task.examples[: cfg.n_examples])
        for i in picked:
            inst = task.instances[i]
            encoded = encoder.encode(variant, inst.input, (task.id, 0))
            answer, _ = encoder.encode_answer(inst.outputs[0])
            examples.append((list(encoded.prefix + encoded.body), list(answer)))
        encoder.reset()
    return examples


def length_grouped_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Batches of similar length in a seeded random order (mega-batches of 32 batches)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    mega = batch_size * 32
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: -lengths[i])
        batches += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _collate(batch: list[tuple[list[int], list[int]]], pad_id: int, seq2seq: bool) -> dict[str, torch.Tensor]:
    if seq2seq:
        src_w, tgt_w = max(len(p) for p, _ in batch), max(len(a) for _, a in batch)
        ids = torch.full((len(batch), src_w), pad_id)
        mask = torch.zeros((len(batch), src_w), dtype=torch.long)
        labels = torch.full((len(batch), tgt_w), -100)
        for r, (p, a) in enumerate(batch):
            ids[r, :len(p)], mask[r, :len(p)], labels[r, :len(a)] = torch.tensor(p), 1, torch.tensor(a)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
    width = max(len(p) + len(a) for p, a in batch)
    ids = torch.full((len(batch), width), pad_id)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100)
    for r, (p, a) in enumerate(batch):
        n = len(p) + len(a)
        ids[r, :n], mask[r, :n] = torch.tensor(p + a), 1
        labels[r, len(p):n] = torch.tensor(a)  # loss on the answer only
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _mixed_precision(setting: str) -> str:
    if setting != "auto":
        return setting
    from core.scoring.hardware import cpu_info
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_info().fast_bf16 else "no"


def finetune(model_path: str | Path, tasks: Sequence[Task], cfg: TrainConfig, out_dir: Path, *,
             on_log: StepCallback | None = None, should_stop: Callable[[], bool] = lambda: False,
             extra_info: dict | None = None) -> TrainResult:
    """Train `model_path` (a Hugging Face directory) on the tasks' instances; save to `out_dir`.

    The checkpoint is written to a temporary directory and renamed into place, so `out_dir`
    either holds a complete checkpoint (safetensors + tokenizer + taskmap_checkpoint.json,
    which records what produced it) or does not exist.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, get_scheduler

    started = time.time()
    # several processes without CUDA (under `accelerate launch`) form a gloo group on the CPU;
    # a single process keeps accelerate's own device choice (CUDA, MPS or CPU)
    gloo = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    accelerator = Accelerator(mixed_precision=_mixed_precision(cfg.mixed_precision),
                              gradient_accumulation_steps=cfg.grad_accum, cpu=gloo)
    set_seed(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    seq2seq = bool(getattr(AutoConfig.from_pretrained(model_path), "is_encoder_decoder", False))
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    model = cls.from_pretrained(model_path, dtype=torch.float32)
    encoder = PromptEncoder(tokenizer, seq2seq, cfg.max_source_tokens, cfg.max_target_tokens)
    examples = training_examples(tasks, encoder, cfg)
    if not examples:
        raise ValueError("no training examples: the selected tasks have no instances")

    lengths = [len(p) + len(a) for p, a in examples]
    per_epoch = math.ceil(len(examples) / (cfg.batch_size * accelerator.num_processes))
    total_steps = max(1, math.ceil(cfg.epochs * per_epoch / cfg.grad_accum))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = get_scheduler(cfg.lr_scheduler, optimizer, num_warmup_steps=cfg.warmup_steps,
                              num_training_steps=total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()

    step, micro, losses, last_loss = 0, 0, [], float("nan")
    epoch = 0
    while step < total_steps:
        batches = length_grouped_order(lengths, cfg.batch_size, cfg.seed, epoch)
        # each process takes its share of the batches (plain round-robin keeps it deterministic);
        # the list is padded by wrapping so that every process makes the same number of steps
        short = -len(batches) % accelerator.num_processes
        batches = (batches + batches[:short])[accelerator.process_index::accelerator.num_processes]
        for batch in batches:
            if should_stop():
                raise Cancelled()
            inputs = {k: v.to(accelerator.device) for k, v in _collate([examples[i] for i in batch],
                                                                         tokenizer.pad_token_id, seq2seq).items()}
            with accelerator.accumulate(model):
                loss = model(**inputs).loss
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(loss.detach())
            micro += 1
            if accelerator.sync_gradients:
                step += 1
                if step % cfg.log_every == 0 or step == total_steps:
                    mean = accelerator.gather(torch.stack(losses).mean()[None]).mean().item()
                    last_loss, losses = mean, []
                    if on_log and accelerator.is_main_process:
                        on_log({"step": step, "loss": round(mean, 5),
                                "lr": scheduler.get_last_lr()[0], "epoch": round(micro / max(1, len(batches)), 3),
                                "total_steps": total_steps})
                if step >= total_steps:
                    break
        epoch += 1

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "taskmap_checkpoint.json").write_text(json.dumps({
            "base": str(model_path), "tasks": [t.id for t in tasks], "examples": len(examples), "steps": step,
            "train_config": to_dict(cfg), "final_loss": last_loss, **(extra_info or {})}, indent=2))
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    accelerator.wait_for_everyone()
    return TrainResult(out_dir, step, len(examples), last_loss, time.time() - started)


# --- a training job, for `accelerate launch -m core.loop.training SPEC.json` --------------------------

def launch_command(spec_path: Path, processes: int) -> list[str]:
    import sys

    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes),
               "--num_machines", "1", "--dynamo_backend", "no", "--main_process_port", str(_free_port())]
    # --multi_gpu is accelerate's torchrun path; without CUDA the Accelerator turns it into gloo on CPU
    command += ["--multi_gpu"] if processes > 1 else ["--cpu"]
    return command + ["-m", "core.loop.training", str(spec_path)]


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_job(spec_path: str) -> None:
    """Train as described by a spec written by core.loop.rounds.train_cached: load the tasks, train,
    and append loss records to the run's metrics from the main process."""
    from core.config import from_dict
    from core.data.loaders import load_tasks
    from core.loop.runs import RunDir

    spec = json.loads(Path(spec_path).read_text())
    loaded = load_tasks(spec["sources"] if len(spec["sources"]) != 1 else spec["sources"][0], split=spec.get("split"))
    by_id = {t.id: t for t in loaded.tasks}
    tasks = [by_id[t] for t in spec["task_ids"]]
    run = RunDir(Path(spec["run_dir"])) if spec.get("run_dir") else None
    progress = Path(spec["progress_file"]) if spec.get("progress_file") else None

    def on_log(record: dict) -> None:
        if run is not None:
            run.append_metric("train", **spec.get("metric_fields", {}), **record)
        if progress is not None:
            progress.write_text(json.dumps(record))

    finetune(spec["model_path"], tasks, from_dict(TrainConfig, spec["train"]), Path(spec["out"]), on_log=on_log,
             should_stop=lambda: run is not None and run.cancel_requested(), extra_info=spec.get("extra_info"))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # leave the process group before exiting: left to exit-time destructors, a gloo rank can
        # abort ("terminate called without an active exception") and fail a finished job
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    import sys
    run_job(sys.argv[1])
