"""Thermodynamics of guest-induced breathing: osmotic potentials of the host phases (OFAST + IAST),
the per-site double well, spinodal hysteresis, isotherms with branches and phase diagrams.

Pure JAX, jit-able and differentiable in every parameter. See :mod:`twin.thermo.osmotic` for the physics.
"""

from twin.thermo.eos import fugacity_Pa, peng_robinson_phi, water_saturation_pressure_Pa
from twin.thermo.osmotic import (
    guest_fugacities_Pa,
    guest_pressures_Pa,
    host_barrier_kj_mol,
    host_free_energy_kj_mol,
    host_landscape,
    iast_loadings,
    iast_spreading_pressure,
    langmuir_affinity_per_Pa,
    langmuir_grand_potential,
    langmuir_loading,
    phase_loadings,
    phase_potentials,
)
from twin.thermo.params import ThermoParams

__all__ = [
    "ThermoParams",
    "phase_potentials",
    "phase_loadings",
    "host_landscape",
    "host_free_energy_kj_mol",
    "host_barrier_kj_mol",
    "guest_pressures_Pa",
    "guest_fugacities_Pa",
    "langmuir_loading",
    "langmuir_grand_potential",
    "langmuir_affinity_per_Pa",
    "iast_spreading_pressure",
    "iast_loadings",
    "peng_robinson_phi",
    "fugacity_Pa",
    "water_saturation_pressure_Pa",
]
