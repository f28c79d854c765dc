"""Thermodynamics of guest-induced breathing: osmotic potentials of the host phases (OFAST + IAST),
the per-site double well, spinodal hysteresis, isotherms with branches and phase diagrams.

Pure JAX, jit-able and differentiable in every parameter. See :mod:`twin.thermo.osmotic` for the physics,
:mod:`twin.thermo.surface` for the crystal-size (surface-energy) term, and :mod:`twin.thermo.gases` for the
saturation limit of each gas (float64 NumPy, checked at the edge).
"""

from twin.thermo.eos import (
    fugacity_Pa,
    peng_robinson_phi,
    peng_robinson_saturation_pressure_Pa,
    water_saturation_pressure_Pa,
)
from twin.thermo.gases import check_below_saturation, saturation, saturation_pressure_Pa
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
from twin.thermo.surface import critical_size_nm, crystal_thermo, size_shift_kj_mol

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
    "peng_robinson_saturation_pressure_Pa",
    "saturation",
    "saturation_pressure_Pa",
    "check_below_saturation",
    "size_shift_kj_mol",
    "critical_size_nm",
    "crystal_thermo",
]
