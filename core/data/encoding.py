"""Prompt text -> token ids for one tokenizer: chat templates, BOS, truncation.

Causal models get the prompt in the user turn of their chat template (or as plain text when
they have none) and the answer as the assistant turn, ended by the template's own end-of-turn
token. The prompt is tokenized segment by segment (prefix = template head + lead + cue, body =
input + tail + template's generation prompt) so every instance of a task shares the exact
prefix ids, which is what lets the scorer reuse the prefix's KV cache. Seq2seq models read the
whole prompt as one encoder input, as in the paper.

Over-long prompts are cut to the limit, never silently: the example/definition lead is cut to
3/4 of the budget first, then the instance input, always keeping the cue and "Output:" tail.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from core.data.prompts import CUE, PROMPT_FORMAT_VERSION, TAIL, PromptVariant, render_input, render_prompt

log = logging.getLogger(__name__)
_SENTINEL = "\u2063TASKMAP_SPLIT\u2063"


@dataclass(frozen=True)
class Encoded:
    prefix: tuple[int, ...]
    body: tuple[int, ...]
    truncated: bool


@dataclass
class PromptEncoder:
    tokenizer: object
    is_seq2seq: bool
    max_prompt_tokens: int
    max_answer_tokens: int
    chat: bool = field(init=False)
    head: str = field(init=False, default="")
    user_tail: str = field(init=False, default="")
    end_id: int = field(init=False)
    bos: tuple[int, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        tok = self.tokenizer
        self.chat = not self.is_seq2seq and bool(getattr(tok, "chat_template", None))
        self.end_id = tok.eos_token_id
        if self.chat:
            text = tok.apply_chat_template([{"role": "user", "content": _SENTINEL}],
                                           add_generation_prompt=True, tokenize=False)
            self.head, self.user_tail = text.split(_SENTINEL)
            turn = tok.apply_chat_template([{"role": "user", "content": "x"}, {"role": "assistant", "content": _SENTINEL}],
                                           tokenize=False)
            after = turn.split(_SENTINEL, 1)[1]
            after_ids = tok(after, add_special_tokens=False).input_ids if after else []
            if after_ids:
                self.end_id = after_ids[0]
        elif not self.is_seq2seq:
            probe = tok("x").input_ids
            if tok.bos_token_id is not None and probe and probe[0] == tok.bos_token_id:
                self.bos = (tok.bos_token_id,)
        self._tail = tuple(self._ids(self._tail_text()))
        self._cue = tuple(self._ids(CUE))
        self._prefixes: dict[object, tuple[tuple[int, ...], bool]] = {}

    @property
    def style(self) -> str:
        return "seq2seq" if self.is_seq2seq else ("chat" if self.chat else "plain")

    def fingerprint(self) -> dict[str, str]:
        """What the cache key needs to know about how prompts became tokens."""
        template = getattr(self.tokenizer, "chat_template", None) or ""
        vocab_probe = self.tokenizer(render_prompt(PromptVariant(0, "probe definition", ()), "probe input")).input_ids
        return {
            "format": PROMPT_FORMAT_VERSION,
            "style": self.style,
            "template": hashlib.sha256(template.encode()).hexdigest()[:16] if self.chat else "",
            "tokenizer_probe": hashlib.sha256(str(vocab_probe).encode()).hexdigest()[:16],
            "max_prompt_tokens": str(self.max_prompt_tokens),
            "max_answer_tokens": str(self.max_answer_tokens),
        }

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _tail_text(self) -> str:
        if self.chat:
            return TAIL + self.user_tail
        return TAIL if self.is_seq2seq else TAIL.rstrip()

    def reset(self) -> None:
        """Forget memoised prefixes (call once a batch of tasks has been encoded)."""
        self._prefixes.clear()

    def prefix(self, variant: PromptVariant, key: object) -> tuple[tuple[int, ...], bool]:
        """Template head + lead + cue of one variant (memoised per variant key)."""
        if key not in self._prefixes:
            lead = list(self.bos) + self._ids(self.head + variant.lead())
            budget = self.max_prompt_tokens * 3 // 4 - len(self._cue)
            cut = len(lead) > budget
            if cut:
                lead = lead[:budget]
            self._prefixes[key] = (tuple(lead) + self._cue, cut)
        return self._prefixes[key]

    def encode(self, variant: PromptVariant, instance_input: str, variant_key: object) -> Encoded:
        if self.is_seq2seq:
            ids = self.tokenizer(render_prompt(variant, instance_input)).input_ids
            keep_end = len(self.tokenizer(TAIL).input_ids)
            cut = len(ids) > self.max_prompt_tokens
            if cut:
                ids = ids[: self.max_prompt_tokens - keep_end] + ids[-keep_end:]
            return Encoded((), tuple(ids), cut)
        prefix, cut = self.prefix(variant, variant_key)
        body = self._ids(render_input(instance_input))
        budget = self.max_prompt_tokens - len(prefix) - len(self._tail)
        if len(body) > budget:
            body, cut = body[:max(budget, 1)], True
        return Encoded(prefix, tuple(body) + self._tail, cut)

    def encode_answer(self, text: str) -> tuple[tuple[int, ...], bool]:
        """A reference answer as the target the model should produce, end token included."""
        if self.is_seq2seq:
            ids = self.tokenizer(text_target=text).input_ids
        else:
            ids = self._ids(text if self.chat else " " + text) + [self.end_id]
        cut = len(ids) > self.max_answer_tokens
        return tuple(ids[: self.max_answer_tokens]), cut

    def stop_ids(self, model_eos: object) -> set[int]:
        ids = {self.end_id, self.tokenizer.eos_token_id}
        if isinstance(model_eos, int):
            ids.add(model_eos)
        elif isinstance(model_eos, (list, tuple)):
            ids.update(int(i) for i in model_eos)
        return {i for i in ids if i is not None}

    def decode_text(self, ids: list[int] | tuple[int, ...]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True).strip()
