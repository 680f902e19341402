"""Task data on the page as text, never as markup.

The rule: every string that comes from a task file, a dataset, a run directory or a model name
(task ids, definitions, inputs, outputs, categories, file and run names, model names, loader and
worker messages) goes through `escape` before it is placed in anything Streamlit renders as
Markdown (st.markdown, st.caption, st.error / st.info / st.success / st.warning, widget labels
and help). `escape` turns every character that HTML, Markdown or LaTeX would act on (<, >, &,
quotes, *, _, #, brackets, backticks, $ ...) into a numeric entity, so the text shows exactly as
written and can never become an element, even with unsafe_allow_html=True. Widgets that never
interpret markup (st.code, st.text, st.dataframe, option lists of select boxes) take the raw text.
Plotly figures have their own escape: core.figures.text.plotly_text.
"""

from __future__ import annotations

import re
from typing import Iterable

from core.figures.palette import REGION_COLORS

DROPPED_STYLE = "color:#d62728;text-decoration:line-through;text-decoration-thickness:2px"
CODE_STYLE = "word-break:break-all;white-space:pre-wrap"
_ENTITIES = {c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~$<>&\"'=:^%@"}
# Markdown turns bare URLs and e-mail addresses into links after entities are decoded, so an
# invisible WORD JOINER (U+2060) goes where a link would start: "www\u2060.", "http:\u2060//",
# "name@\u2060host". Nothing else gets one.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=www)(?=\.)|(?<=:)(?=//)|(?<=@)(?=\w)")


def escape(text: object) -> str:
    """Text safe inside st.markdown with unsafe_allow_html (no HTML, no Markdown, no LaTeX, no
    links): shown exactly as written (plus a zero-width word joiner inside URLs and addresses)."""
    return "".join(_ENTITIES.get(c, c) for c in _AUTOLINK.sub(WORD_JOINER, str(text)))


def code(text: object) -> str:
    """Inline code (HTML, for st.markdown with unsafe_allow_html) holding escaped text; long
    strings wrap instead of widening the page."""
    return f'<code style="{CODE_STYLE}">{escape(text)}</code>'


def bullets(items: Iterable[object], limit: int | None = None) -> str:
    """A Markdown bullet list of escaped items (at most `limit`, then a count of the rest)."""
    items = list(items)
    shown = items if limit is None else items[:limit]
    lines = [f"- {escape(item)}" for item in shown]
    if len(items) > len(shown):
        lines.append(f"- … and {len(items) - len(shown)} more")
    return "\n".join(lines)


def listing(items: Iterable[object], limit: int = 12) -> str:
    """Escaped items separated by commas, at most `limit` of them (then an ellipsis)."""
    items = list(items)
    return ", ".join(escape(item) for item in items[:limit]) + (" …" if len(items) > limit else "")


def region_badge(region: str) -> str:
    """A region name as a coloured badge (HTML)."""
    color = REGION_COLORS.get(region, "#888")
    return f'<span style="background:{color};color:white;padding:2px 8px;border-radius:8px">{escape(region)}</span>'


def marked_definition(definition: str, dropped: Iterable[int]) -> str:
    """The original definition, word by word (its .split(), as the perturbation saw it), with
    the dropped positions struck through in red."""
    gone = {int(i) for i in dropped}
    words = str(definition).split()
    return " ".join(f'<span style="{DROPPED_STYLE}">{escape(w)}</span>' if i in gone else escape(w)
                    for i, w in enumerate(words))


def perturbation_lines(definition: str, dropped_by_j: dict[int, Iterable[int]]) -> str:
    """One line per perturbation j = 1..k: `j (n dropped): marked definition`."""
    lines = []
    n_words = len(str(definition).split())
    for j in sorted(dropped_by_j):
        dropped = sorted({int(i) for i in dropped_by_j[j]})
        lines.append(f'<div style="margin:0.25em 0;overflow-wrap:anywhere"><b>j = {j}</b> '
                     f'<span style="color:#888">({len(dropped)} of {n_words} words dropped)</span>: '
                     f"{marked_definition(definition, dropped)}</div>")
    return "\n".join(lines)
