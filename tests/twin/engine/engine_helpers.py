"""Shared builders for the engine tests (small synthetic geometries and constant protocols)."""

from __future__ import annotations

import numpy as np

from twin.engine.lattice import Geometry, crystal_mask, pack_links
from twin.protocol import compile_protocol
from twin.scenario import parse_scenario


def geometry(n=(8, 8, 8), shape="cuboid", periodic=False, defects=None, spacing=(6.6, 16.7, 12.8), block=1):
    mask = np.ones(n, bool) if periodic else crystal_mask(shape, n)
    return Geometry(pack_links(mask, defects, periodic), spacing, periodic, block, np.asarray(n, float))


def table(segments: str, pressure="1 bar", temperature="303 K", gas="CO2"):
    text = f"""
material = "mil53-al"
[crystal]
size_cells = 4
[protocol]
gases = {{ {gas} = 1.0 }}
temperature = "{temperature}"
pressure = "{pressure}"
{segments}
"""
    return compile_protocol(parse_scenario(text).protocol)


HOLD = """
[[protocol.segments]]
type = "hold"
duration = "100 s"
"""
