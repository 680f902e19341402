"""Shared fixtures: offline Hugging Face, a private cache, tiny models, the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parent.parent
MALFORMED = REPO / "tests" / "fixtures" / "malformed"  # broken task files, one problem each
SHARED = Path(os.environ.get("TASKMAP_SHARED", REPO.parent / "shared")) / "data"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or write the user's cache (the default model is converted once per session)."""
    os.environ["TASKMAP_CACHE"] = str(tmp_path_factory.mktemp("taskmap-cache"))
    yield


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (the CI layout puts ../shared beside the checkout)")
    return path


@pytest.fixture(scope="session")
def tiny_causal_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import tiny_causal
    return tiny_causal(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_vllm_dir(tmp_path_factory) -> Path:
    """The tiny Llama with head_dim 32, which vLLM's CPU attention accepts."""
    from tests.tiny_models import tiny_vllm_causal
    return tiny_vllm_causal(tmp_path_factory.mktemp("tiny-llama-hd32"))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import tiny_gpt2
    return tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory) -> Path:
    from tests.tiny_models import tiny_t5
    return tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


def make_task(task_id: str = "task1_demo", n_instances: int = 6, definition: str | None = None,
              kind: str = "generation", n_examples: int = 2):
    from core.data.tasks import Example, Instance, Task
    definition = definition or "In this task, you are given a sentence. Answer with yes or no about the cat."
    examples = tuple(Example(f"The cat sat on mat number {i}.", "yes") for i in range(n_examples))
    instances = tuple(Instance(f"{task_id}-{i}", f"The cat {i} was on the mat {i % 3}.", ("yes" if i % 2 else "no",))
                      for i in range(n_instances))
    return Task(task_id, definition, examples, instances, ("Demo",), kind, "test")
