"""Subcommands of the ``twin`` command line.

Each module defines ``register(subparsers)`` which adds its parser and sets ``handler`` to a function
``(args) -> int``. Add a module to :data:`COMMANDS` to expose it.
"""

from twin.commands import (
    analyze,
    datasets_cmd,
    demo,
    fit,
    inspect,
    instruments,
    ir,
    isotherm,
    materials,
    nmr,
    observe,
    phase_diagram,
    report,
    run,
    tem,
    xrd,
)

COMMANDS = [run, observe, fit, report, demo, analyze, materials, instruments, datasets_cmd, inspect, isotherm,
            phase_diagram, xrd, nmr, tem, ir]

__all__ = ["COMMANDS"]
