"""Task data as Plotly text. Plotly draws legend, hover, annotation, title and axis text as a
subset of HTML (<b>, <i>, <br>, <span style>, <a href=...>) and a whole string between `$` signs
as LaTeX, so a task id, category, run or model name would otherwise be able to turn bold, break
lines or become a link. Every builder passes such strings through `plotly_text` before they
become part of a figure's text; the raw values stay wherever code reads them back (a map point's
customdata[0] is its raw task id, for selections)."""

from __future__ import annotations

from typing import Iterable

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "$": "&#36;"}


def plotly_text(value: object) -> str:
    """`value` as text Plotly shows literally: &, <, > and $ as entities (which Plotly decodes)."""
    text = str(value)
    if not any(c in text for c in _ENTITIES):
        return text
    return "".join(_ENTITIES.get(c, c) for c in text)


def plotly_texts(values: Iterable[object]) -> list[str]:
    return [plotly_text(v) for v in values]
