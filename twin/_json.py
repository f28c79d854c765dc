"""JSON-safe copies of result objects (the one converter behind every JSON file and ``--json`` output)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(value: Any, default: Callable[[Any], Any] | None = None) -> Any:
    """A copy of ``value`` in plain JSON types: NumPy scalars and arrays become Python numbers and lists,
    non-finite floats ``None`` (JSON has no NaN), dict keys strings.

    Args:
        value: nested dicts, lists, tuples, arrays and scalars.
        default: applied to any other object (e.g. ``str`` for paths); ``None`` leaves it as it is, so that
            ``json.dumps`` refuses it.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v, default) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, default) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), default)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if value is None or isinstance(value, str) or default is None:
        return value
    return default(value)
