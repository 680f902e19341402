"""Tiny randomly initialised models and tokenizers, built in code (no download), saved as
ordinary Hugging Face directories so tests go through the same loading path as users."""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "Definition: In this task, you are given a sentence. Answer with yes or no.",
    "Positive Example 1 - Input: The cat sat on the mat. Output: yes.",
    "Now complete the following example - Input: Output: the a an of to in is was",
    "positive negative neutral true false first second A B C D 0 1 2 3 4 5 6 7 8 9",
    "sentiment review movie film good bad great terrible question answer capital city",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer(chat: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>" if chat else "<|endoftext|>",
                                   pad_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_causal(path: Path, *, chat: bool = True, seed: int = 0, layers: int = 2, hidden: int = 64,
                head_dim: int | None = None) -> Path:
    """A tiny Llama: 4 heads of hidden / 4 (16) by default; `head_dim` sets their size apart from
    the hidden size (vLLM's CPU attention takes 32 at the smallest: see tiny_vllm_causal)."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer(chat)
    torch.manual_seed(seed)
    extra = {"head_dim": head_dim} if head_dim else {}
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True, **extra,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(config)
    _sharpen(model)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_vllm_causal(path: Path, seed: int = 0) -> Path:
    """tiny_causal with heads of size 32, the smallest vLLM's CPU attention runs (its sizes: 32,
    64, 80, 96, 112, 128, 160, 192, 224, 256, 512); tiny_causal's 16 is what it rejects."""
    return tiny_causal(path, seed=seed, head_dim=32)


def tiny_qwen2(path: Path, seed: int = 0) -> Path:
    """A Qwen2 decoder: Llama's layout plus biases on the query/key/value projections."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tok = tiny_tokenizer(True)
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # transformers initialises biases to zero; give them values worth testing
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    _sharpen(model)
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_gpt2(path: Path, seed: int = 0) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = tiny_tokenizer(chat=False)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tok), n_embd=64, n_layer=2, n_head=4, n_positions=2048,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = GPT2LMHeadModel(config)
    _sharpen(model)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_t5(path: Path, seed: int = 0) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    tok = tiny_tokenizer(chat=False)
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tok), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
                      num_heads=4, decoder_start_token_id=tok.pad_token_id, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id)
    model = T5ForConditionalGeneration(config)
    _sharpen(model)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _sharpen(model) -> None:
    """Random tiny models spread probability almost uniformly over the vocabulary, which makes
    every probability ~1/vocab. Scaling the output embeddings gives peaked, varied
    distributions, so tests see P values across (0, 1) and decodes that stop."""
    with torch.no_grad():
        emb = model.get_output_embeddings()
        emb.weight.mul_(8.0)
