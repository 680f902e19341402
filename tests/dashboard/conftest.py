"""Fixtures of the dashboard tests: a project home with fixture results (`home`) or an empty one
(`project`), AppTest (`app`), a stub for worker launches (`launched`), and (from e2e.py) the
browser fixtures app_server, chromium and page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dashboard.e2e import app_server, chromium, page  # noqa: F401  (browser fixtures)
from tests.dashboard.fixtures import Home, make_home

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    """A fresh project home for one test, set as TASKMAP_HOME."""
    made = make_home(tmp_path / "home")
    monkeypatch.setenv("TASKMAP_HOME", str(made.root))
    monkeypatch.delenv("TASKMAP_ALLOWED_DIRS", raising=False)
    return made


@pytest.fixture
def app(home):
    """The dashboard in AppTest, on its default page (Task map), not yet run."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=60)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty project home (data/, results/, runs/, curated/), set as TASKMAP_HOME."""
    home = tmp_path / "home"
    for name in ("data", "results", "runs", "curated"):
        (home / name).mkdir(parents=True)
    monkeypatch.setenv("TASKMAP_HOME", str(home))
    monkeypatch.delenv("TASKMAP_ALLOWED_DIRS", raising=False)
    return home


@pytest.fixture
def launched(monkeypatch):
    """Replace the worker launch: record the runs instead of starting processes."""
    runs = []

    def fake_launch(run, python=None, extra_env=None):
        runs.append(run)
        return os.getpid()

    monkeypatch.setattr("dashboard.jobs.launch_worker", fake_launch)
    return runs
