"""Powder X-ray diffraction forward model: reflections, profiles, microstructure, series, Debye equation,
total scattering F(Q) with finite structural coherence.

Public names are re-exported here; see ``docs/xrd.md`` for the physics and conventions.
"""

from instruments.xrd.debye import debye_intensity, debye_intensity_histogram, pair_distance_histogram
from instruments.xrd.form_factors import FORM_FACTOR_TABLES, atomic_form_factor, form_factor_coefficients
from instruments.xrd.instrument import instrument_from_toml, load_instrument, parse_instrument
from instruments.xrd.pattern import (
    CU_KA1_A,
    CU_KA2_A,
    Instrument,
    PhaseState,
    lattice_from_eta,
    make_instrument,
    make_phase_state,
    pattern_series,
    powder_pattern,
    q_to_two_theta_deg,
    weight_fractions,
)
from instruments.xrd.peaks import peak_list
from instruments.xrd.profiles import (
    caglioti_fwhm_deg,
    chebyshev_background,
    pseudo_voigt,
    size_fwhm_deg,
    strain_fwhm_deg,
    tch_fwhm_fraction,
    volume_weighted_column_length,
)
from instruments.xrd.reflections import (
    bragg_two_theta_deg,
    constrain_lattice,
    d_spacing,
    family_intensities,
    lorentz_polarisation,
    march_dollase,
    structure_factor_sq,
)
from instruments.xrd.total_scattering import (
    DebyeKernel,
    PairHistograms,
    bulk_pair_histograms,
    debye_interference,
    debye_kernel,
    enveloped_interference,
    sphere_envelope,
)
from instruments.xrd.structure import (
    MAX_HKL,
    PhaseStructure,
    d_min_for,
    estimated_hkl_count,
    lattice_parameters,
    load_structure,
    phase_from_cif,
    phase_from_structure,
)

__all__ = [
    "CU_KA1_A",
    "DebyeKernel",
    "PairHistograms",
    "bulk_pair_histograms",
    "debye_interference",
    "debye_kernel",
    "enveloped_interference",
    "sphere_envelope",
    "CU_KA2_A",
    "FORM_FACTOR_TABLES",
    "Instrument",
    "MAX_HKL",
    "PhaseState",
    "PhaseStructure",
    "atomic_form_factor",
    "bragg_two_theta_deg",
    "caglioti_fwhm_deg",
    "chebyshev_background",
    "constrain_lattice",
    "d_min_for",
    "d_spacing",
    "debye_intensity",
    "debye_intensity_histogram",
    "estimated_hkl_count",
    "family_intensities",
    "form_factor_coefficients",
    "instrument_from_toml",
    "lattice_from_eta",
    "lattice_parameters",
    "load_instrument",
    "load_structure",
    "lorentz_polarisation",
    "make_instrument",
    "make_phase_state",
    "march_dollase",
    "pair_distance_histogram",
    "parse_instrument",
    "pattern_series",
    "peak_list",
    "phase_from_cif",
    "phase_from_structure",
    "powder_pattern",
    "pseudo_voigt",
    "q_to_two_theta_deg",
    "size_fwhm_deg",
    "strain_fwhm_deg",
    "structure_factor_sq",
    "tch_fwhm_fraction",
    "volume_weighted_column_length",
    "weight_fractions",
]
