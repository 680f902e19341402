"""Small helpers for reading what an AppTest run drew."""

from __future__ import annotations

import base64
import html
import json

import numpy as np


def decode(value):
    """Plotly's JSON with typed arrays ({"dtype", "bdata", "shape"}) turned back into lists."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            if "shape" in value:
                array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
            return array.tolist()
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def charts(at) -> list[dict]:
    """Every Plotly chart on the page as its figure JSON (data, layout, frames), arrays decoded."""
    return [decode(json.loads(el.proto.spec)) for el in at.get("plotly_chart")]


def chart_points(spec: dict) -> dict[str, list[str]]:
    """trace name -> task ids (customdata[0]) of the scatter traces of a map figure."""
    return {t["name"]: [row[0] for row in t.get("customdata", [])] for t in spec["data"]
            if t["type"] in ("scatter", "scattergl")}


def shown(source: str) -> str:
    """Markdown source as the reader sees its text: entities decoded (dashboard.text.escape writes
    task data as numeric entities) and the invisible word joiners it puts inside URLs dropped."""
    return html.unescape(source).replace("\u2060", "")


def texts(at) -> str:
    """All markdown, captions, titles, subheaders and alerts of the page, as one string, with
    escaped task data decoded (see `shown`)."""
    parts = []
    for group in (at.title, at.header, at.subheader, at.markdown, at.caption, at.success, at.info, at.warning,
                  at.error):
        parts += [str(el.value) for el in group]
    return shown("\n".join(parts))


def assert_clean(at) -> None:
    """No uncaught exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric_values(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}
