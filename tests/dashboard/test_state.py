"""Session keys are named once (dashboard/state.py): no page or widget module spells a session key
as a string."""

from __future__ import annotations

import ast
from pathlib import Path

import dashboard.state as state

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"


def raw_session_keys(path: Path) -> list[str]:
    """`st.session_state["x"]`, `st.session_state.get("x")` / pop / setdefault with a literal key."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("session_state") \
                and isinstance(node.slice, ast.Constant):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and ast.unparse(node.func.value).endswith("session_state") and node.args \
                and isinstance(node.args[0], (ast.Constant, ast.JoinedStr)):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_raw_session_keys_outside_state():
    files = [p for p in DASHBOARD.rglob("*.py") if p.name != "state.py"]
    assert files and not [hit for p in files for hit in raw_session_keys(p)]


def test_every_key_is_distinct():
    keys = {name: value for name, value in vars(state).items() if name.isupper() and isinstance(value, str)}
    assert len(set(keys.values())) == len(keys), keys
