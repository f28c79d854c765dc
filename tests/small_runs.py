"""The small runs the tests simulate: one MIL-53(Al) crystal under a CO2 ramp 0.2 → 16 bar in 60 s at 303 K,
frames every 10 s — np at the start, lp after the switch (the material's CO2 np → lp pressure at 303 K lies
between 2.8 and 5.5 bar). One text, so that the tests of different techniques run the same physics."""

from __future__ import annotations

__all__ = ["co2_ramp_scenario"]


def co2_ramp_scenario(name: str, *, seed: int = 1, size_cells: str = "8", outputs: str = "") -> str:
    """The scenario TOML of the ramp: ``size_cells`` as TOML (``"8"`` or ``"[8, 24, 16]"``), ``outputs`` the body of
    an ``[outputs]`` table (none when empty)."""
    text = f"""name = "{name}"
material = "mil53-al"
seed = {seed}
[crystal]
size_cells = {size_cells}
[protocol]
gases = {{ CO2 = 1.0 }}
temperature = "303 K"
pressure = "0.2 bar"
[[protocol.segments]]
type = "ramp"
pressure = "16 bar"
duration = "60 s"
[numerics]
frame_interval = "10 s"
"""
    return text + (f"[outputs]\n{outputs}\n" if outputs else "")
