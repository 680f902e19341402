"""Where tasks and models come from: the built-in suite, a typed path confined to the allowed
roots, or an uploaded file; each is loaded once and validated, with the loader's messages shown."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import streamlit as st

from .. import data
from ..paths import ADD_ROOT_HINT, PathNotAllowed, confine, uploads_dir
from ..text import bullets, escape

SOURCE_KINDS = ("built-in suite", "folder or file on this machine", "upload a task file")
DEFAULT_MODEL = "default (SmolLM2-135M-Instruct)"
LOCAL_MODEL = "a local Hugging Face folder"


def confined_path_input(label: str, key: str, *, must: str = "any", help: str | None = None,
                        placeholder: str | None = None) -> Path | None:
    """A typed path, resolved and confined to the allowed roots; problems are shown in place.
    must: "dir", "file" or "any" (exists)."""
    text = st.text_input(label, key=key, help=help, placeholder=placeholder)
    if not text.strip():
        return None
    try:
        path = confine(text)
    except PathNotAllowed as exc:
        st.error(f"{escape(exc.typed)} is outside the folders this dashboard may read. Allowed:\n"
                 f"{bullets(exc.roots)}\n\n{escape(ADD_ROOT_HINT)}")
        return None
    problem = ("does not exist" if not path.exists() else "is not a folder" if must == "dir" and not path.is_dir()
               else "is not a file" if must == "file" and not path.is_file() else None)
    if problem:
        st.error(f"{escape(path)} {problem}.")
        return None
    return path


@st.cache_data(max_entries=32, show_spinner="checking the tasks…")
def _source_summary(source: str, mtime: float) -> dict:
    from core.data.loaders import load_tasks

    result = load_tasks(source)
    kinds = pd.Series([t.kind for t in result.tasks], dtype=object).value_counts().to_dict()
    return {"n": len(result.tasks), "kinds": kinds, "errors": [str(p) for p in result.errors],
            "warnings": [str(p) for p in result.warnings]}


def source_summary(source: str) -> dict:
    """Load a task source once (cached by its modification time) and summarise it."""
    from core.data.loaders import BUILTIN_TASKS

    path = BUILTIN_TASKS if source == "builtin" else Path(source)
    return _source_summary(source, data.stamp(path)[0])


def show_source_summary(summary: dict, limit: int = 20) -> bool:
    """Counts, skipped tasks and warnings of a task source; True when it has a task to use.
    The loader's messages name files, records and fields: they are shown escaped."""
    if summary["n"]:
        kinds = ", ".join(f"{v} {k}" for k, v in sorted(summary["kinds"].items()))
        st.success(f"{summary['n']} tasks ({escape(kinds)}).")
    if summary["errors"]:
        header = "No valid task in this source." if not summary["n"] else f"{len(summary['errors'])} task(s) skipped:"
        st.error(f"{header}\n{bullets(summary['errors'], limit)}")
    elif not summary["n"]:
        st.error("No valid task in this source.")
    if summary["warnings"]:
        with st.expander(f"{len(summary['warnings'])} warning(s)"):
            st.markdown(bullets(summary["warnings"], limit))
    return summary["n"] > 0


def save_upload(uploaded) -> Path | None:
    """Store an uploaded task file under <home>/data/uploads/<hash>/<its name> (the name is kept:
    a NIV2 file's name is its task id). Too large or wrongly named files are refused in place."""
    from .. import paths

    content = uploaded.getvalue()
    limit = paths.MAX_UPLOAD_BYTES  # read at call time (tests lower it)
    name = Path(uploaded.name).name
    if len(content) > limit:
        st.error(f"{escape(name)} is {len(content) / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB.")
        return None
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name).lstrip(".") or "tasks.json"
    if not safe.endswith((".json", ".jsonl")):
        st.error(f"{escape(name)}: upload a .json (NIV2 task or Alpaca records) or .jsonl file.")
        return None
    folder = uploads_dir() / hashlib.sha256(content).hexdigest()[:16]
    path = folder / safe
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return path


def task_source_input(key: str, *, allow_upload: bool = True, label: str = "tasks") -> str | None:
    """Where tasks come from: the built-in suite, a confined path, or an uploaded file (saved
    under data/uploads and validated). Returns a source for core.data.loaders.load_tasks, or None
    (after showing why) when there is nothing usable."""
    kinds = SOURCE_KINDS if allow_upload else SOURCE_KINDS[:2]
    kind = st.radio(label, kinds, key=f"{key}_kind", horizontal=True)
    if kind == SOURCE_KINDS[0]:
        source = "builtin"
    elif kind == SOURCE_KINDS[1]:
        path = confined_path_input("path (a folder of task*.json, a NIV2 checkout, or a task / records file)",
                                   key=f"{key}_path", placeholder="data/my_tasks")
        if path is None:
            return None
        source = str(path)
    else:
        uploaded = st.file_uploader("task file (.json NIV2 task or Alpaca/Self-Instruct records, .jsonl records)",
                                    type=["json", "jsonl"], key=f"{key}_upload")
        if uploaded is None:
            return None
        path = save_upload(uploaded)
        if path is None:
            return None
        summary = source_summary(str(path))
        if not summary["n"]:
            show_source_summary(summary)
            shutil.rmtree(path.parent, ignore_errors=True)  # keep no unusable uploads
            return None
        source = str(path)
    return source if show_source_summary(source_summary(source)) else None


def model_input(key: str) -> str | None:
    """"default" (the bundled SmolLM2-135M-Instruct) or a confined local Hugging Face folder."""
    kind = st.radio("model", [DEFAULT_MODEL, LOCAL_MODEL], key=f"{key}_kind", horizontal=True)
    if kind == DEFAULT_MODEL:
        return "default"
    path = confined_path_input("model folder (with config.json)", key=f"{key}_path", must="dir")
    if path is None:
        return None
    if not (path / "config.json").is_file():
        st.error(f"{escape(path)} has no config.json; point at a folder saved with `save_pretrained`.")
        return None
    return str(path)
