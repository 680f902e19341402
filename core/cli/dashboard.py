"""`taskmap dashboard`: the Streamlit app, torch-free, with the project's settings."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.io import REPO_ROOT


def cmd_dashboard(a: argparse.Namespace) -> int:
    """Start the app; it binds to 127.0.0.1 unless --address says otherwise."""
    env = dict(os.environ)
    if a.home:
        env["TASKMAP_HOME"] = str(Path(a.home).resolve())
    allowed = [str(Path(p).resolve()) for p in a.allow or []]
    if allowed:
        env["TASKMAP_ALLOWED_DIRS"] = os.pathsep.join(filter(None, [env.get("TASKMAP_ALLOWED_DIRS"), *allowed]))
    command = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
               "--server.address", a.address, "--server.port", str(a.port), "--server.headless", "true",
               "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    print(f"taskmap dashboard on http://{a.address}:{a.port} (Ctrl-C to stop; jobs it started keep running)")
    os.chdir(REPO_ROOT)  # .streamlit/config.toml is read from the working directory
    os.execve(sys.executable, command, env)
    return 0  # not reached


def add_commands(sub) -> None:
    p = sub.add_parser("dashboard", help="open the dashboard (Streamlit) on this project's results and runs",
                       description="Start the Streamlit dashboard. It binds to 127.0.0.1; to expose it deliberately "
                                   "pass --address 0.0.0.0 and put it behind authentication (it can start jobs).")
    p.add_argument("--port", type=int, default=8501, help="port to listen on")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default: this machine only)")
    p.add_argument("--home", default=None, help="project home holding results/, runs/, curated/ (default: the repo)")
    p.add_argument("--allow", nargs="+", default=None,
                   help="extra directories the dashboard may read task files and models from (e.g. ../shared/data)")
    p.set_defaults(func=cmd_dashboard)
