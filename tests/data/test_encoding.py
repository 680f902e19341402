"""Prompt building for causal (chat template / plain) and seq2seq models."""

from transformers import AutoTokenizer

from core.data.encoding import PromptEncoder
from core.data.prompts import make_variants, render_input, render_prompt
from tests.conftest import make_task


def variants(task):
    return make_variants(task, k=3, p=0.3, mode="TDTE", seed=0)


def test_chat_template_wraps_prompt_in_user_turn(tiny_causal_dir):
    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)
    enc = PromptEncoder(tok, is_seq2seq=False, max_prompt_tokens=1024, max_answer_tokens=16)
    assert enc.style == "chat"
    task = make_task()
    v0 = variants(task)[0]
    e = enc.encode(v0, task.instances[0].input, (task.id, 0))
    text = tok.decode(list(e.prefix + e.body))
    expected = tok.apply_chat_template([{"role": "user", "content": render_prompt(v0, task.instances[0].input)}],
                                       add_generation_prompt=True, tokenize=False)
    assert text == expected
    # the answer is the assistant turn, ended by the template's end-of-turn token
    answer, cut = enc.encode_answer("yes")
    assert answer[-1] == tok.convert_tokens_to_ids("<|im_end|>") and not cut
    assert tok.decode(list(answer[:-1])) == "yes"


def test_instances_share_the_exact_prefix_ids(tiny_causal_dir):
    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)
    enc = PromptEncoder(tok, is_seq2seq=False, max_prompt_tokens=1024, max_answer_tokens=16)
    task = make_task()
    for v in variants(task):
        encoded = [enc.encode(v, inst.input, (task.id, v.index)) for inst in task.instances]
        assert len({e.prefix for e in encoded}) == 1
        assert len({e.body for e in encoded}) == len(task.instances)


def test_plain_causal_without_template(tiny_gpt2_dir):
    tok = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    tok.chat_template = None
    enc = PromptEncoder(tok, is_seq2seq=False, max_prompt_tokens=1024, max_answer_tokens=16)
    assert enc.style == "plain"
    task = make_task()
    v0 = variants(task)[0]
    e = enc.encode(v0, task.instances[0].input, (task.id, 0))
    text = tok.decode(list(e.prefix + e.body))
    assert text.endswith(render_input(task.instances[0].input) + "\nOutput:")
    assert text.startswith("Definition: ")
    answer, _ = enc.encode_answer("yes")
    assert answer[-1] == tok.eos_token_id and tok.decode(list(answer[:-1])) == " yes"


def test_seq2seq_reads_whole_prompt(tiny_t5_dir):
    tok = AutoTokenizer.from_pretrained(tiny_t5_dir)
    enc = PromptEncoder(tok, is_seq2seq=True, max_prompt_tokens=1024, max_answer_tokens=16)
    assert enc.style == "seq2seq"
    task = make_task()
    v0 = variants(task)[0]
    e = enc.encode(v0, task.instances[0].input, (task.id, 0))
    assert e.prefix == ()
    assert list(e.body) == tok(render_prompt(v0, task.instances[0].input)).input_ids


def test_long_prompt_truncated_keeping_cue_and_tail(tiny_causal_dir):
    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)
    enc = PromptEncoder(tok, is_seq2seq=False, max_prompt_tokens=120, max_answer_tokens=4)
    long_definition = "Answer with yes or no. " * 60
    task = make_task(definition=long_definition)
    v0 = variants(task)[0]
    e = enc.encode(v0, "word " * 200, (task.id, 0))
    assert e.truncated
    assert len(e.prefix) + len(e.body) <= 120
    text = tok.decode(list(e.prefix + e.body))
    assert "Now complete the following example -\nInput:" in text
    assert text.endswith("\nOutput: <|im_end|>\n<|im_start|>assistant\n")
    short = enc.encode(v0, "short", (task.id, 0))
    assert short.prefix == e.prefix  # the prefix cut does not depend on the instance
    answer, cut = enc.encode_answer("yes " * 20)
    assert cut and len(answer) == 4


def test_fingerprint_changes_with_template(tiny_causal_dir):
    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)
    a = PromptEncoder(tok, is_seq2seq=False, max_prompt_tokens=1024, max_answer_tokens=16).fingerprint()
    tok.chat_template = tok.chat_template.replace("assistant", "bot")
    b = PromptEncoder(tok, is_seq2seq=False, max_prompt_tokens=1024, max_answer_tokens=16).fingerprint()
    assert a["template"] != b["template"] and a["format"] == b["format"]
