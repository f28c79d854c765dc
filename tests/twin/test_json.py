"""The JSON-safe converter shared by fit results, report summaries and ``twin analyze --json``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from twin._json import jsonable


def test_numpy_and_non_finite_values_become_plain_json():
    value = {1: np.float32(0.5), "a": [np.int64(3), np.bool_(True), math.nan, np.array([1.0, np.inf])],
             "t": (None, "x")}
    out = jsonable(value)
    assert out == {"1": 0.5, "a": [3, True, None, [1.0, None]], "t": [None, "x"]}
    assert type(out["a"][0]) is int and type(out["a"][1]) is bool
    json.dumps(out, allow_nan=False)


def test_other_objects_pass_through_unless_a_default_is_given():
    assert jsonable({"p": Path("a/b")}, default=str) == {"p": "a/b"}
    with pytest.raises(TypeError):
        json.dumps(jsonable({"p": Path("a/b")}))
