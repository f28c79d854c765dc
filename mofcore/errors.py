"""The project's exception hierarchy (shared by :mod:`twin`, :mod:`instruments` and :mod:`reports`).

Every error a user can cause derives from :class:`TwinError`; the command line prints it as one line
and exits with status 2. Anything else is a bug and exits with status 1 and a traceback.

Messages name the place (file, key path, line), the expected form and what was found, e.g.
``scenario.toml: protocol.segments[2].pressure: expected a pressure such as "5 bar", got "30 K"``.
"""

from __future__ import annotations

__all__ = [
    "TwinError",
    "ScenarioError",
    "DataFormatError",
    "MaterialError",
    "SimulationError",
    "FitError",
    "UnitError",
    "NotAvailableError",
]


class TwinError(Exception):
    """Base class of every error caused by user input or the user's environment."""


class UnitError(TwinError):
    """A quantity string could not be parsed or has the wrong physical dimension."""


class ScenarioError(TwinError):
    """A scenario file is malformed, incomplete or unphysical."""


class DataFormatError(TwinError):
    """A data file (trajectory, measurement, structure) is malformed or truncated."""


class MaterialError(TwinError):
    """A material parameter set is unknown, incomplete or used outside its validity."""


class SimulationError(TwinError):
    """A simulation failed at run time (NaN, order parameter out of range, unstable time step)."""


class FitError(TwinError):
    """A fit is ill-posed (inverted bounds, no overlap of axes) or failed to converge."""


class NotAvailableError(TwinError):
    """A capability that this version of the package does not provide yet."""
