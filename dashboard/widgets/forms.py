"""Form inputs derived from the config records themselves.

Each described field of a config class (core.config.option) carries its label, help, bounds and
choices, and its default is the class's; `config_input` turns one field into the matching widget
(a select box for choices, a checkbox for a flag, a number input within the bounds, a text input),
so the Score and Train pages type nothing that core.config (and the CLI, which derives its flags
from the same metadata) already says.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Iterable

import streamlit as st

from core.config import Option, options


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of a field annotation such as `str | None`."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else str), len(args) < len(typing.get_args(tp))
    return tp, False


def float_step(opt: Option, value: float) -> float:
    """A step for a float field: hundredths for fractions (fields bounded by 1), else an order of
    magnitude below the value."""
    if opt.max is not None and opt.max <= 1:
        return 0.01
    return 10.0 ** math.floor(math.log10(abs(value))) if value else 0.1


def config_input(cls: type, field: str, *, key: str, where: Any = None, default: Any = None,
                 label_prefix: str = "") -> Any:
    """The widget for one described field of config class `cls`, and its value.

    default: the starting value when it differs from the class default (e.g. FindingsConfig's
    training settings); label_prefix: words before the field's label ("scoring: ") where a page
    shows fields of several configs side by side.
    """
    opt = options(cls)[field]
    where = where if where is not None else st
    value = opt.default if default is None else default
    label, help_ = f"{label_prefix}{opt.label}", opt.help or None
    tp, optional = _base_type(opt.type)
    if opt.choices:
        choices = list(opt.choices)
        return where.selectbox(label, choices, index=choices.index(value) if value in choices else 0, key=key,
                               help=help_)
    if tp is bool:
        return bool(where.checkbox(label, value=bool(value), key=key, help=help_))
    if tp is int:
        return int(where.number_input(label, min_value=None if opt.min is None else int(opt.min),
                                      max_value=None if opt.max is None else int(opt.max), value=int(value), step=1,
                                      key=key, help=help_))
    if tp is float:
        value = float(value)
        small = value != 0 and abs(value) < 1e-3
        return float(where.number_input(label, min_value=None if opt.min is None else float(opt.min),
                                        max_value=None if opt.max is None else float(opt.max), value=value,
                                        step=float_step(opt, value), format="%.1e" if small else None,
                                        key=key, help=help_))
    text = where.text_input(label, value="" if value is None else str(value), key=key, help=help_)
    return (text.strip() or None) if optional else text


def config_inputs(cls: type, fields: Iterable[str], *, key_prefix: str, defaults: Any = None, columns: int = 4,
                  label_prefix: str = "") -> dict[str, Any]:
    """Several fields of `cls` in rows of `columns`; returns {field: value}. Keys are
    f"{key_prefix}_{field}". defaults: an instance whose values start the inputs."""
    fields = list(fields)
    values = {}
    for start in range(0, len(fields), columns):
        row = st.columns(columns)
        for col, field in zip(row, fields[start:start + columns]):
            values[field] = config_input(cls, field, key=f"{key_prefix}_{field}", where=col,
                                         default=getattr(defaults, field) if defaults is not None else None,
                                         label_prefix=label_prefix)
    return values


def described_fields(cls: type, *, exclude: Iterable[str] = ()) -> list[str]:
    """The described fields of `cls`, in declaration order, less `exclude`."""
    skip = set(exclude)
    return [name for name in options(cls) if name not in skip]


def replace(config: Any, values: dict[str, Any]) -> Any:
    """`config` with the given fields replaced (validated by the config itself)."""
    return dataclasses.replace(config, **values)
