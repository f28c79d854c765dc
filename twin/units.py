"""Quantity strings with units, defined in :mod:`mofcore.units` (re-exported here for the twin's modules)."""

from mofcore.units import *  # noqa: F401,F403
from mofcore.units import __all__  # noqa: F401
