"""Reference computations every scorer is checked against: deliberately naive, one sequence at
a time, full forward, no cache, on the same token ids."""

import numpy as np
import torch

from core.scoring.base import Item

TOL = 2e-5


def plain_logprobs(model, item: Item, seq2seq: bool) -> np.ndarray:
    with torch.no_grad():
        if seq2seq:
            src = torch.tensor([item.prefix + item.body])
            dec = torch.tensor([[model.config.decoder_start_token_id] + list(item.answer[:-1])])
            logits = model(input_ids=src, decoder_input_ids=dec).logits[0]
            positions = torch.arange(len(item.answer))
        else:
            full = torch.tensor([item.prefix + item.body + item.answer])
            logits = model(input_ids=full).logits[0]
            start = len(item.prefix) + len(item.body) - 1
            positions = torch.arange(start, start + len(item.answer))
        return torch.log_softmax(logits.float(), -1)[positions, torch.tensor(item.answer)].numpy()


def plain_greedy(model, item: Item, max_new: int, stops: set[int], seq2seq: bool) -> tuple[list[int], np.ndarray]:
    """Greedy decoding one token at a time with full recomputation (no cache at all)."""
    tokens, logps = [], []
    with torch.no_grad():
        for _ in range(max_new):
            if seq2seq:
                src = torch.tensor([item.prefix + item.body])
                dec = torch.tensor([[model.config.decoder_start_token_id] + tokens])
                logits = model(input_ids=src, decoder_input_ids=dec).logits[0, -1]
            else:
                logits = model(input_ids=torch.tensor([item.prefix + item.body + tuple(tokens)])).logits[0, -1]
            logp = torch.log_softmax(logits.float(), -1)
            tok = int(logp.argmax())
            tokens.append(tok)
            logps.append(float(logp[tok]))
            if tok in stops:
                break
    return tokens, np.array(logps)


def random_items(vocab: int, seq2seq: bool, seed: int = 0) -> list[Item]:
    rng = np.random.default_rng(seed)
    prefixes = [tuple(rng.integers(5, vocab, size=rng.integers(15, 50)).tolist()) for _ in range(3)]
    items = []
    for prefix in prefixes:
        for _ in range(4):
            body = tuple(rng.integers(5, vocab, size=rng.integers(2, 12)).tolist())
            answer = tuple(rng.integers(5, vocab, size=rng.integers(1, 7)).tolist())
            items.append(Item((), prefix + body, answer) if seq2seq else Item(prefix, body, answer))
    items.append(Item((), (7, 8, 9), (10, 11)))  # no shared prefix at all
    items.append(Item(prefixes[0], (12,), (13,)))  # one-token body and answer
    return items
