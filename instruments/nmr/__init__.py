"""Solid-state NMR forward models: static ²H powder spectra with exchange (:mod:`instruments.nmr.deuterium`) and
¹²⁹Xe spectra of adsorbed xenon with exchange (:mod:`instruments.nmr.xenon`).

Public names: the spectrum (:func:`deuterium_spectrum`), the fast-limit tensor (:func:`motional_average`), the
jump models (:func:`jump_model`, :data:`MOTIONS`), the echo amplitude, Arrhenius rates and rate distributions,
the ZCW powder set and the exchange core (:mod:`instruments.nmr.exchange`); for ¹²⁹Xe the shift model
(:func:`wall_shift_ppm`, :func:`adsorbed_shift_ppm`, :func:`gas_shift_ppm`), the Bloch–McConnell spectrum
(:func:`bloch_mcconnell`, :func:`xenon_spectrum`), the random walks (:func:`walk_spectrum`) and the first-passage
rates of a lattice (:func:`first_passage_rates`). The technique on the seam lives in
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
from instruments.nmr.xenon import (
    WalkResult,
    adsorbed_shift_ppm,
    bloch_mcconnell,
    first_passage_rates,
    gas_density_amagat,
    gas_shift_ppm,
    langmuir_loading,
    two_site_rates,
    walk_spectrum,
    wall_shift_ppm,
    xenon_spectrum,
)

__all__ = [
    "DEFAULT_ORIENTATIONS", "DeuteriumSimulator", "arrhenius_rate", "check_inputs", "check_window",
    "deuterium_spectrum", "echo_intensity", "ln_rate_width", "lognormal_rates", "make_deuterium",
    "powder_convergence", "regime", "SpectrumGrid", "exchange_modes", "exchange_spectrum", "spectrum_grid", "MOTIONS",
    "JumpModel", "MotionalAverage", "jump_model", "motional_average", "ZCW_SIZES", "zcw_orientations",
    "WalkResult", "adsorbed_shift_ppm", "bloch_mcconnell", "first_passage_rates", "gas_density_amagat",
    "gas_shift_ppm", "langmuir_loading", "two_site_rates", "walk_spectrum", "wall_shift_ppm", "xenon_spectrum",
]
