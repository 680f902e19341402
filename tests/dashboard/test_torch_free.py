"""The dashboard never imports torch or transformers, directly or through core."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import importlib, os, pkgutil, sys, tempfile
    from pathlib import Path

    import dashboard
    for module in pkgutil.iter_modules(dashboard.__path__):
        importlib.import_module(f"dashboard.{module.name}")

    from tests.dashboard.fixtures import make_home
    home = Path(tempfile.mkdtemp()) / "home"
    make_home(home)
    os.environ["TASKMAP_HOME"] = str(home)

    from streamlit.testing.v1 import AppTest
    app = Path("dashboard/app.py").resolve()
    at = AppTest.from_file(str(app), default_timeout=60).run()
    failures = [e.value for e in at.exception]
    from dashboard.nav import SECTIONS
    pages = [script for section in SECTIONS.values() for script, _, _ in section]
    on_disk = sorted(f"views/{p.name}" for p in (app.parent / "views").glob("*.py"))
    assert sorted(pages) == on_disk, (pages, on_disk)  # every view is in the navigation
    for page in pages:
        at.switch_page(page).run()
        failures += [f"{page}: {e.value}" for e in at.exception]
    assert not failures, failures
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "accelerate"))
    print("PAGES", len(pages))
    print("HEAVY", heavy)
""")


def test_dashboard_imports_no_torch():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "PAGES 8" in out.stdout or "PAGES 9" in out.stdout  # 9 with views/findings.py
    assert "HEAVY []" in out.stdout, out.stdout
