"""Operando MOF twin: mesoscale simulation of flexible metal–organic frameworks under operating conditions.

Data flow: scenario → twin (thermo, engine) → trajectory → instruments → fit → reports.
"""

__version__ = "0.1.0"

from twin.errors import (  # noqa: E402
    DataFormatError,
    FitError,
    MaterialError,
    NotAvailableError,
    ScenarioError,
    SimulationError,
    TwinError,
    UnitError,
)

__all__ = [
    "__version__",
    "TwinError",
    "ScenarioError",
    "DataFormatError",
    "MaterialError",
    "SimulationError",
    "FitError",
    "UnitError",
    "NotAvailableError",
]
