"""The vLLM worker: a child process that runs vLLM for `core.scoring.backends.vllm_backend`.

    python vllm_worker.py READ_FD WRITE_FD       (started by the backend, never by hand)

It imports vLLM and the standard library only, never taskmap, so it can run under another
interpreter (the separate `.venv-vllm` that `TASKMAP_EXTRAS=vllm ./scripts/setup` creates, or
`TASKMAP_VLLM_PYTHON`). The parent imports this module for `send` / `recv` only, which are
plain standard library.

Protocol: length-prefixed pickles of plain tuples over a private pipe pair (vLLM logs to
stdout and stderr, which go to a log file). Requests and replies, one reply per request:

    ("start", options)              -> ("ok", info)           pre-checks, LLM(...), a 1-token warm-up
    ("decode", prompts, max_new, stop_ids) -> ("ok", [(tokens, logprobs), ...])
    ("score", [(context, answer)])  -> ("ok", [logprobs, ...])
    ("stats",)                      -> ("ok", counters)
    ("close",)                      -> ("ok", None), then os._exit(0)
    any failure                     -> ("error", (one line, details))

Prompts are token ids (the engine's own encoding), never text. Greedy decoding asks for the
picked token's log-prob only; teacher forcing asks for prompt log-probs on context + answer
(no top-k alternatives) and reads the answer positions. Prefix caching is on for both; a
teacher-forced request may read the cache (`skip_reading_prefix_cache=False`) because its
answer positions are checked to have been computed (else it is run again without the cache).

vLLM runs in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0, set by the parent): no
grandchildren, no spawn, no `__main__` guard anywhere. After an acknowledged close the worker
leaves with os._exit(0), skipping vLLM's interpreter-exit teardown (which can abort).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import struct
import sys
import time
import traceback

# a request waits this long at most for the parent to read a reply that does not fit the pipe
_HEADER = struct.Struct("<Q")


def send(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def recv(fd: int):
    """The next message; EOFError when the other side closed its end."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    return pickle.loads(_read_exactly(fd, size))


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class Unsupported(Exception):
    """A model or setting vLLM cannot run; the message is the one line the user sees."""


# --- the worker ------------------------------------------------------------------------------

class Worker:
    def __init__(self, options: dict):
        self.options = options
        self.llm = None
        self.counters = {"decode_requests": 0, "decode_prompt_tokens": 0, "decode_cached_tokens": 0,
                         "score_requests": 0, "score_prompt_tokens": 0, "score_cached_tokens": 0, "rescored": 0}

    def start(self) -> dict:
        opts = self.options
        t0 = time.perf_counter()
        config = _model_config(opts["model"])
        if config.get("is_encoder_decoder"):
            raise Unsupported(f"{opts['name']} is an encoder-decoder model; the vLLM backend scores decoder-only "
                              "models: use --backend torch")
        import vllm
        from vllm.platforms import current_platform

        on_cpu = current_platform.is_cpu()
        head_dim = _head_dim(config)
        if on_cpu and head_dim is not None:
            sizes = _cpu_head_sizes()
            if head_dim not in sizes:
                raise Unsupported(f"{opts['name']} has attention heads of size {head_dim}; vLLM {vllm.__version__}'s "
                                  f"CPU attention takes {', '.join(map(str, sizes))}: use --backend torch")
        if on_cpu and opts["dtype"] == "float16":
            raise Unsupported("vLLM on CPU runs float32 or bfloat16, not float16: pass --dtype float32 or bfloat16")
        from vllm import LLM

        kwargs = dict(model=opts["model"], dtype=opts["dtype"], seed=0, enable_prefix_caching=True,
                      enforce_eager=opts.get("enforce_eager", on_cpu),
                      max_model_len=opts.get("max_model_len"), disable_log_stats=True,
                      generation_config="vllm")  # our own sampling settings only, never the model's defaults
        if on_cpu:
            kwargs["block_size"] = 32  # CPU attention kernels work on multiples of 32
        elif opts.get("kv_cache_gib"):
            kwargs["kv_cache_memory_bytes"] = int(float(opts["kv_cache_gib"]) * (1 << 30))
        kwargs.update(opts.get("llm_kwargs") or {})
        self.llm = LLM(**{k: v for k, v in kwargs.items() if v is not None})
        self.warmup(opts["warmup_ids"])
        return {"pid": os.getpid(), "vllm": vllm.__version__, "python": sys.executable,
                "platform": "cpu" if on_cpu else getattr(current_platform, "device_name", "gpu"),
                "head_dim": head_dim, "threads": os.environ.get("OMP_NUM_THREADS"),
                "start_seconds": round(time.perf_counter() - t0, 2)}

    def warmup(self, ids: list[int]) -> None:
        """One tiny request through both paths (sampled log-prob and prompt log-probs), so an
        unsupported kernel or too little memory fails at start, not in the first pack."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(temperature=0.0, max_tokens=1, logprobs=0, prompt_logprobs=0, ignore_eos=True,
                                detokenize=False, flat_logprobs=True)
        self.llm.generate([TokensPrompt(prompt_token_ids=list(ids))], params, use_tqdm=False)

    def decode(self, prompts: list[tuple[int, ...]], max_new_tokens: int,
               stop_ids: list[int]) -> list[tuple[list[int], list[float]]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens,
                                logprobs=0,                       # the picked token's log-prob, no alternatives
                                stop_token_ids=list(stop_ids),    # kept in the output, with its log-prob
                                ignore_eos=True,                  # stop on our set only
                                detokenize=False, skip_special_tokens=False, flat_logprobs=True)
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        results = []
        for out in outs:
            self.counters["decode_requests"] += 1
            self.counters["decode_prompt_tokens"] += len(out.prompt_token_ids)
            self.counters["decode_cached_tokens"] += out.num_cached_tokens or 0
            o = out.outputs[0]
            tokens = list(o.token_ids)
            results.append((tokens, [_logprob_at(o.logprobs, p, t) for p, t in enumerate(tokens)]))
        return results

    def score(self, rows: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> list[list[float]]:
        """Teacher-forced log-probs of each answer after its context (prefix + body)."""
        results: list[list[float] | None] = [None] * len(rows)
        retry = []
        for i, out in zip(range(len(rows)), self._prompt_logprobs(rows, read_cache=True)):
            context, answer = rows[i]
            self.counters["score_requests"] += 1
            self.counters["score_prompt_tokens"] += len(context) + len(answer)
            self.counters["score_cached_tokens"] += out.num_cached_tokens or 0
            # answer token a is predicted at position len(context) + a - 1; positions read from the
            # prefix cache were not computed and hold no log-prob
            if (out.num_cached_tokens or 0) > len(context) - 1:
                retry.append(i)
            else:
                results[i] = _answer_logprobs(out.prompt_logprobs, len(context), answer)
        if retry:
            self.counters["rescored"] += len(retry)
            for i, out in zip(retry, self._prompt_logprobs([rows[i] for i in retry], read_cache=False)):
                results[i] = _answer_logprobs(out.prompt_logprobs, len(rows[i][0]), rows[i][1])
        return results  # type: ignore[return-value]

    def _prompt_logprobs(self, rows, read_cache: bool):
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0, ignore_eos=True, detokenize=False,
                                skip_reading_prefix_cache=not read_cache, flat_logprobs=True)
        prompts = [TokensPrompt(prompt_token_ids=list(context) + list(answer)) for context, answer in rows]
        return self.llm.generate(prompts, params, use_tqdm=False)


def _logprob_at(logprobs, position: int, token: int) -> float:
    """The log-prob of `token` at `position` of vLLM's per-position log-probs (FlatLogprobs or a
    list of {token: Logprob})."""
    if hasattr(logprobs, "start_indices"):
        for k in range(logprobs.start_indices[position], logprobs.end_indices[position]):
            if logprobs.token_ids[k] == token:
                return float(logprobs.logprobs[k])
        raise KeyError(f"no log-prob for token {token} at position {position}")
    return float(logprobs[position][token].logprob)


def _answer_logprobs(prompt_logprobs, start: int, answer) -> list[float]:
    """prompt_logprobs[p] = log p(token p | tokens before p); the answer starts at `start`."""
    if start < 1:
        raise ValueError("teacher forcing needs at least one context token before the answer")
    return [_logprob_at(prompt_logprobs, start + a, int(t)) for a, t in enumerate(answer)]


def _model_config(model: str) -> dict:
    path = os.path.join(model, "config.json")
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return {}  # a Hub id: vLLM resolves it (offline: from the local Hub cache)


def _head_dim(config: dict) -> int | None:
    text = config.get("text_config") or config
    if text.get("head_dim"):
        return int(text["head_dim"])
    hidden, heads = text.get("hidden_size"), text.get("num_attention_heads")
    return int(hidden) // int(heads) if hidden and heads else None


def _cpu_head_sizes() -> list[int]:
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        return list(CPUAttentionBackend.get_supported_head_sizes())
    except (ImportError, AttributeError):  # another vLLM layout: what 0.32 accepts
        return [32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512]


def _summary(exc: BaseException) -> str:
    """One line for the user: what failed, in vLLM's words where they are clear."""
    if isinstance(exc, Unsupported):
        return str(exc)
    text = str(exc)
    if "are not supported for now" in text or "Cannot find model module" in text:
        arch = text.split("Model architectures", 1)[-1].split("are not supported", 1)[0].strip(" '\"[]")
        return (f"vLLM does not support this model's architecture ({arch or 'see the log'}): "
                "use --backend torch")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if "KV cache" in text or "memory" in text.lower():
        return (f"vLLM could not start ({type(exc).__name__}: {first[:300]}); on CPU its KV cache is "
                "TASKMAP_VLLM_KV_GIB GiB (default 2): give it more, or free memory")
    return f"vLLM failed ({type(exc).__name__}: {first[:300]})"


def serve(rfd: int, wfd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop (Ctrl-C reaches both)
    worker: Worker | None = None
    while True:
        try:
            msg = recv(rfd)
        except EOFError:
            break  # the parent is gone
        kind = msg[0]
        try:
            if kind == "start":
                worker = Worker(msg[1])
                reply = worker.start()
            elif kind == "close":
                send(wfd, ("ok", None))
                break
            elif worker is None or worker.llm is None:
                raise RuntimeError(f"{kind!r} before a successful start")
            elif kind == "decode":
                reply = worker.decode(msg[1], msg[2], msg[3])
            elif kind == "score":
                reply = worker.score(msg[1])
            elif kind == "stats":
                reply = dict(worker.counters)
            else:
                raise ValueError(f"unknown request {kind!r}")
            send(wfd, ("ok", reply))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            print(f"taskmap vllm worker: {kind} failed", flush=True)
            traceback.print_exc()
            details = "".join(traceback.format_exception(exc))[-4000:]
            try:
                send(wfd, ("error", (_summary(exc), details)))
            except OSError:
                break
            if kind == "start" or "EngineDead" in details:
                break
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip vLLM's teardown at interpreter exit: nothing is left to save


if __name__ == "__main__":
    # run as a script: its own folder (core/scoring) must not shadow top-level modules
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    serve(int(sys.argv[1]), int(sys.argv[2]))
