"""Adsorption isotherms on the technique seam (:mod:`instruments.technique`).

A measured isotherm (AIF, BELSORP, pyGAPS JSON, CSV: :mod:`instruments.io`) is fitted through the powder
surrogate of the twin (:mod:`twin.fit.isotherm`, ``[fit] technique = "isotherm"``); ``twin isotherm``
predicts one. An isotherm is one curve per experiment, not a spectrum per frame, so ``twin observe`` does not
produce it.
"""

from __future__ import annotations

from instruments.technique import Technique

__all__ = ["ISOTHERM"]

ISOTHERM = Technique(
    name="isotherm",
    title="Adsorption isotherm",
    axis_name="pressure",
    axis_unit="bar",
    fit="twin.fit.problems:ISOTHERM",
    summary="uptake against pressure, one or both branches (docs/fit.md)",
)
