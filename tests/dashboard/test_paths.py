"""Where the dashboard may read (dashboard/paths.py): confinement to the allowed roots, names."""

from __future__ import annotations

import os

import pytest

from core.io import cache_root
from dashboard.paths import PathNotAllowed, allowed_roots, check_name, confine


def test_confine_accepts_the_project_folders_and_the_cache(project):
    assert confine("data") == project / "data"
    assert confine(str(project / "results" / "x")) == project / "results" / "x"
    assert confine(cache_root() / "models") == (cache_root() / "models").resolve()
    assert set(allowed_roots()) >= {project / "data", project / "runs", project / "curated", cache_root().resolve()}



@pytest.mark.parametrize("typed", ["/etc/passwd", "..", "data/../..", "data/../../home/x", "~"])
def test_confine_refuses_everything_else(project, typed):
    with pytest.raises(PathNotAllowed, match="outside the folders"):
        confine(typed)



def test_confine_resolves_symlinks(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project / "data" / "link").symlink_to(outside)
    with pytest.raises(PathNotAllowed):
        confine("data/link")
    (project / "data" / "real").mkdir()
    (project / "runs" / "inside-link").symlink_to(project / "data" / "real")
    assert confine("runs/inside-link") == project / "data" / "real"



def test_extra_allowed_dirs(project, tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    monkeypatch.setenv("TASKMAP_ALLOWED_DIRS", f"{a}{os.pathsep}{b}")
    assert confine(a / "x") == a / "x" and confine(b) == b
    with pytest.raises(PathNotAllowed):
        confine(tmp_path / "c")



def test_names():
    assert check_name(" good-name_1.v2 ") == "good-name_1.v2"
    for bad in ("", "../x", "a/b", ".hidden", "x" * 81, "spaces here"):
        with pytest.raises(ValueError):
            check_name(bad)

