"""The project's exception hierarchy, defined in :mod:`mofcore.errors` (re-exported here for the twin's modules)."""

from mofcore.errors import *  # noqa: F401,F403
from mofcore.errors import __all__  # noqa: F401
