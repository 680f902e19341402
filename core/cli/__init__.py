"""The `taskmap` command: argument handling only; the work lives in the engine's packages.

One module per command group, each adding its subcommands with `add_commands(sub)`:

    scoring.py    score, map, export, tasks   (score task sets; look at and export the map)
    training.py   loop, findings, compare     (active instruction tuning and its experiments)
    runs.py       runs, worker, resume, cancel (run directories)
    dashboard.py  dashboard                   (the Streamlit app)
    doctor.py     doctor                      (this machine, and what taskmap picks on it)
"""

from __future__ import annotations

import argparse
import logging
import sys

from core.cli import dashboard, doctor, runs, scoring, training


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskmap", description="Prompt-uncertainty task maps and active instruction tuning.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (scoring, training, runs, dashboard, doctor):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

