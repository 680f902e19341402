"""The prompt format and the seeded word-drop perturbations of METHOD.md §1–2.

A prompt is built in four text segments so that the causal scorer can share work:

    lead   "Definition: ...\\n\\n Positive Example 1 -\\nInput: ...\\n Output: ...\\n\\n" (+ more examples)
    cue    "Now complete the following example -\\n"
    input  "Input: <x>."
    tail   "\\nOutput: "

lead + cue depend only on the task and the perturbation, so their KV cache is reused by every
instance; input + tail depend only on the instance. The text is the Tk-Instruct format the
paper used (a period is added only where a field does not already end in punctuation).

Perturbations are seeded from (seed, task id, perturbation index) rather than drawn from one
global generator, so a task's prompts never change when the pool around it does.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

import numpy as np

from core.data.tasks import Example, Instance, Task

PROMPT_FORMAT_VERSION = "tk-instruct-v1"
CUE = "Now complete the following example -\n"
TAIL = "\nOutput: "


@dataclass(frozen=True)
class PromptVariant:
    """One of the k+1 prompts of a task; index 0 is the unperturbed original."""

    index: int
    definition: str
    examples: tuple[Example, ...]
    definition_dropped: tuple[int, ...] = ()  # word positions (in definition.split()) that were dropped
    example_dropped: tuple[tuple[int, ...], ...] = ()

    def lead(self) -> str:
        return render_lead(self.definition, self.examples)


def _end(text: str) -> str:
    text = text.strip()
    return text if text and text[-1] in string.punctuation else text + "."


def render_lead(definition: str, examples: tuple[Example, ...]) -> str:
    parts = [f"Definition: {_end(definition)}\n\n"]
    for i, ex in enumerate(examples, 1):
        parts.append(f" Positive Example {i} -\nInput: {_end(ex.input)}\n Output: {_end(ex.output)}\n\n")
    return "".join(parts)


def render_input(instance_input: str) -> str:
    return f"Input: {_end(instance_input)}"


def render_prompt(variant: PromptVariant, instance_input: str) -> str:
    """The whole prompt as one string (what a seq2seq model reads, or a chat model's user turn)."""
    return variant.lead() + CUE + render_input(instance_input) + TAIL


# --- seeding -------------------------------------------------------------------------------

def _task_number(task_id: str) -> int:
    return int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "little")


def task_rng(seed: int, task_id: str, stream: int) -> np.random.Generator:
    """An RNG for one task and one purpose, independent of every other task and of pool order."""
    return np.random.default_rng([seed, _task_number(task_id), stream])


INSTANCE_STREAM = 1_000_003  # perturbation j uses stream j; instance sampling uses this one


def sample_instances(task: Task, n: int, seed: int) -> tuple[Instance, ...]:
    """n instances, seeded per task, in their original order (all of them if the task has fewer)."""
    if len(task.instances) <= n:
        return task.instances
    picked = task_rng(seed, task.id, INSTANCE_STREAM).choice(len(task.instances), size=n, replace=False)
    return tuple(task.instances[i] for i in sorted(picked))


# --- perturbation -------------------------------------------------------------------------

def drop_words(text: str, p: float, rng: np.random.Generator) -> tuple[str, tuple[int, ...]]:
    """Keep each whitespace-separated word with probability 1 - p; re-join with single spaces."""
    words = text.split()
    keep = rng.random(len(words)) >= p
    dropped = tuple(int(i) for i in np.flatnonzero(~keep))
    return " ".join(w for w, k in zip(words, keep) if k), dropped


def make_variants(task: Task, *, k: int, p: float, mode: str, seed: int, n_examples: int = 2) -> list[PromptVariant]:
    """The original prompt and k perturbed ones.

    TDTE drops words from the definition and from the example inputs (example outputs and the
    instance are never touched); TD drops words from the definition only; TE keeps the
    definition and re-samples which positive examples are shown, and in what order.
    """
    shown = task.examples[:n_examples]
    variants = [PromptVariant(0, task.definition, shown)]
    for j in range(1, k + 1):
        rng = task_rng(seed, task.id, j)
        if mode == "TE":
            pool = task.examples
            order = rng.permutation(len(pool))[: min(n_examples, len(pool))]
            variants.append(PromptVariant(j, task.definition, tuple(pool[i] for i in order)))
            continue
        definition, def_dropped = drop_words(task.definition, p, rng)
        examples, ex_dropped = shown, tuple(() for _ in shown)
        if mode == "TDTE":
            perturbed = [drop_words(ex.input, p, rng) for ex in shown]
            examples = tuple(Example(text, ex.output) for (text, _), ex in zip(perturbed, shown))
            ex_dropped = tuple(d for _, d in perturbed)
        variants.append(PromptVariant(j, definition, examples, def_dropped, ex_dropped))
    return variants
