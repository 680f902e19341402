"""Where the dashboard reads and writes, and which typed paths it accepts.

The dashboard can start jobs and read files on the machine it runs on, so every path a user
types is resolved (symlinks and `..` included) and must fall inside an allowed root:

    <home>/data, <home>/results, <home>/runs, <home>/curated   the project's own folders
    core.io.cache_root()                                  the taskmap cache (converted models, scores)
    each entry of TASKMAP_ALLOWED_DIRS (os.pathsep-separated) what the person running it adds

<home> is TASKMAP_HOME, else the repository root. Nothing here imports Streamlit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.io import REPO_ROOT, cache_root

PROJECT_DIRS = ("data", "results", "runs", "curated")
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # uploaded task files; .streamlit/config.toml has the same limit in MB
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class PathNotAllowed(ValueError):
    """A typed path outside the allowed roots: `typed` is what was typed, `roots` the allowed
    roots (the message names them and says how to add one)."""

    def __init__(self, typed: str, roots: list[Path] | None = None):
        self.typed, self.roots = typed, list(roots or [])
        listed = "".join(f"\n- {root}" for root in self.roots)
        super().__init__(f"{typed!r} is outside the folders this dashboard may read. Allowed:{listed}\n\n"
                         f"{ADD_ROOT_HINT}" if typed else "no path given")


ADD_ROOT_HINT = ("Move the files under one of them, or restart the dashboard with the folder added to "
                 f"TASKMAP_ALLOWED_DIRS (separate several with {os.pathsep!r}).")


def project_home() -> Path:
    return Path(os.environ.get("TASKMAP_HOME") or REPO_ROOT).expanduser().resolve()


def results_dir() -> Path:
    return project_home() / "results"


def runs_dir() -> Path:
    return project_home() / "runs"


def curated_dir() -> Path:
    return project_home() / "curated"


def data_dir() -> Path:
    return project_home() / "data"


def uploads_dir() -> Path:
    return data_dir() / "uploads"


def allowed_roots() -> list[Path]:
    home = project_home()
    roots = [home / name for name in PROJECT_DIRS] + [cache_root()]
    extra = os.environ.get("TASKMAP_ALLOWED_DIRS", "")
    roots += [Path(p) for p in extra.split(os.pathsep) if p.strip()]
    return [root.expanduser().resolve() for root in roots]


def is_allowed(path: Path) -> bool:
    resolved = path.expanduser().resolve()
    return any(resolved == root or resolved.is_relative_to(root) for root in allowed_roots())


def confine(text: str | os.PathLike) -> Path:
    """The resolved path, if it lies inside an allowed root; relative paths start at the home.

    Raises PathNotAllowed with a message meant for the page (which roots are allowed and how
    to add one), never for anything outside them, whether or not it exists.
    """
    raw = str(text).strip()
    if not raw:
        raise PathNotAllowed("", allowed_roots())
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = project_home() / path
    resolved = path.resolve()
    if not is_allowed(resolved):
        raise PathNotAllowed(raw, allowed_roots())
    return resolved


def check_name(name: str, what: str = "name") -> str:
    """A file-safe name (letters, digits, `.`, `_`, `-`), or ValueError saying what is wrong."""
    name = name.strip()
    if not NAME_PATTERN.match(name) or name in (".", ".."):
        raise ValueError(f"{what} {name!r} must start with a letter or digit and use only letters, digits, "
                         "'.', '_' and '-' (at most 80 characters)")
    return name
