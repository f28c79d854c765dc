"""Solid-state NMR forward models: static ²H powder spectra with exchange (:mod:`instruments.nmr.deuterium`).

Public names: the spectrum (:func:`deuterium_spectrum`), the fast-limit tensor (:func:`motional_average`), the
jump models (:func:`jump_model`, :data:`MOTIONS`), the echo amplitude, Arrhenius rates and rate distributions,
the ZCW powder set and the exchange core (:mod:`instruments.nmr.exchange`). The technique on the seam lives in
:mod:`instruments.nmr.technique` (imported on use by the registry). docs/nmr.md describes the physics.
"""

from instruments.nmr.deuterium import (
    DEFAULT_ORIENTATIONS,
    DeuteriumSimulator,
    arrhenius_rate,
    check_inputs,
    check_window,
    deuterium_spectrum,
    echo_intensity,
    ln_rate_width,
    lognormal_rates,
    make_deuterium,
    powder_convergence,
    regime,
)
from instruments.nmr.exchange import SpectrumGrid, exchange_modes, exchange_spectrum, spectrum_grid
from instruments.nmr.motion import MOTIONS, JumpModel, MotionalAverage, jump_model, motional_average
from instruments.nmr.orientations import ZCW_SIZES, zcw_orientations

__all__ = [
    "DEFAULT_ORIENTATIONS", "DeuteriumSimulator", "arrhenius_rate", "check_inputs", "check_window",
    "deuterium_spectrum", "echo_intensity", "ln_rate_width", "lognormal_rates", "make_deuterium",
    "powder_convergence", "regime", "SpectrumGrid", "exchange_modes", "exchange_spectrum", "spectrum_grid", "MOTIONS",
    "JumpModel", "MotionalAverage", "jump_model", "motional_average", "ZCW_SIZES", "zcw_orientations",
]
