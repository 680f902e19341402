"""Task text rendered for the page: definitions with the words a perturbation dropped marked.

Output is HTML for st.markdown(..., unsafe_allow_html=True). Every character of task text
that HTML or Markdown would act on (<, >, &, quotes, *, _, #, brackets, $ ...) becomes a
numeric entity, so a definition can never inject markup or change the layout.
"""

from __future__ import annotations

from typing import Iterable

DROPPED_STYLE = "color:#d62728;text-decoration:line-through;text-decoration-thickness:2px"
_ENTITIES = {c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~$<>&\"'=:"}


def escape(text: str) -> str:
    """Text safe inside st.markdown with unsafe_allow_html (no HTML, no Markdown, no LaTeX)."""
    return "".join(_ENTITIES.get(c, c) for c in str(text))


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
        lines.append(f'<div style="margin:0.25em 0"><b>j = {j}</b> '
                     f'<span style="color:#888">({len(dropped)} of {n_words} words dropped)</span>: '
                     f"{marked_definition(definition, dropped)}</div>")
    return "\n".join(lines)
