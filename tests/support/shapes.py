"""Check a decoded reply against a TypedDict of ``hyperhive/core/replies.py``, at every depth."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict


def mismatches(value: object, shape: Any, where: str = "reply") -> list[str]:
    """Every way ``value`` differs from ``shape``: missing, unknown or mistyped keys."""
    if is_typeddict(shape):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object"]
        hints = get_type_hints(shape)
        out = [f"{where}.{k}: missing" for k in sorted(shape.__required_keys__ - value.keys())]
        out += [
            f"{where}.{k}: not in {shape.__name__}" for k in sorted(value.keys() - hints.keys())
        ]
        for key in sorted(hints.keys() & value.keys()):
            out += mismatches(value[key], hints[key], f"{where}.{key}")
        return out
    origin = get_origin(shape)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list"]
        (item,) = get_args(shape)
        return [m for i, v in enumerate(value) for m in mismatches(v, item, f"{where}[{i}]")]
    if origin in (Union, types.UnionType):
        if any(not mismatches(value, option, where) for option in get_args(shape)):
            return []
        return [f"{where}: {value!r} is none of {shape}"]
    if shape is Any:
        return []
    if shape is None or shape is type(None):
        return [] if value is None else [f"{where}: {value!r}, not null"]
    if isinstance(value, bool) and shape is not bool:
        return [f"{where}: {value!r}, not {shape.__name__}"]
    allowed = (int, float) if shape is float else shape  # a JSON number may be either
    return [] if isinstance(value, allowed) else [f"{where}: {value!r}, not {shape.__name__}"]
