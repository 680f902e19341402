"""Widget plumbing every page uses: values shared across pages, and errors shown in place."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from ..text import escape

log = logging.getLogger("taskmap.dashboard")


def _copy_back(widget_key: str, key: str) -> None:
    st.session_state[key] = st.session_state[widget_key]


def shared(widget, label: str, key: str, default=None, **kwargs):
    """A widget whose value lives in st.session_state[key] and is the same on every page.

    Streamlit gives a keyed widget a separate identity on each page and drops its value when
    another page runs, so the value is kept under `key` (plain session state, which pages and
    tests may set), copied into the widget before it is drawn and back when the user changes it.
    """
    if key not in st.session_state:
        st.session_state[key] = default
    widget_key = f"{key}__widget"
    st.session_state[widget_key] = st.session_state[key]
    return widget(label, key=widget_key, on_change=_copy_back, args=(widget_key, key), **kwargs)


@contextmanager
def page_guard(what: str = "this page") -> Iterator[None]:
    """Show an unexpected error as a short message in the page, not a traceback; the full
    traceback goes to the server log. (st.rerun / st.stop pass through: they are not errors.)"""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the page must stay usable whatever went wrong
        log.exception("error while drawing %s", what)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        st.error(f"Could not show {what}: {type(exc).__name__}: {escape(message[:300])}")
