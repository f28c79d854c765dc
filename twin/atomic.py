"""Atomic file writes, defined in :mod:`mofcore.atomic` (re-exported here for the twin's modules)."""

from mofcore.atomic import *  # noqa: F401,F403
from mofcore.atomic import __all__  # noqa: F401
