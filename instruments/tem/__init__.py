"""Transmission electron microscopy: lens optics (CTF), multislice HRTEM, electron diffraction, diffraction
contrast of whole crystals, and the ``tem`` technique of the registry (docs/tem.md)."""

from instruments.tem.contrast import column_amplitudes, extinction_distance_A, two_beam_dark_field
from instruments.tem.ctf import (
    Lens,
    aberration_phase,
    first_zero_inv_A,
    interaction_constant,
    phase_ctf,
    point_resolution_A,
    scherzer_defocus_A,
    spatial_envelope,
    temporal_envelope,
    wavelength_A,
)
from instruments.tem.diffraction import ZoneReflections, exit_wave_pattern, render_pattern, zone_reflections
from instruments.tem.multislice import Detector, Grid, HRTEMResult, exit_wave, hrtem, hrtem_tiled, lens_image
from instruments.tem.potentials import KIRKLAND_2010, electron_form_factor_A, projected_potential_V_A, slice_potentials
from instruments.tem.specimen import Specimen, parse_zone, specimen_from_structure

__all__ = [
    "Lens", "aberration_phase", "first_zero_inv_A", "interaction_constant", "phase_ctf", "point_resolution_A",
    "scherzer_defocus_A", "spatial_envelope", "temporal_envelope", "wavelength_A",
    "KIRKLAND_2010", "electron_form_factor_A", "projected_potential_V_A", "slice_potentials",
    "Specimen", "parse_zone", "specimen_from_structure",
    "Detector", "Grid", "HRTEMResult", "exit_wave", "hrtem", "hrtem_tiled", "lens_image",
    "ZoneReflections", "exit_wave_pattern", "render_pattern", "zone_reflections",
    "column_amplitudes", "extinction_distance_A", "two_beam_dark_field",
]
