"""The ``twin`` command: one subcommand per job, each in ``twin/commands/<name>.py``.

Exit status: 0 success; 2 user error (:class:`~twin.errors.TwinError`, printed as one line, no traceback);
1 internal error (traceback printed). ``--help`` on every subcommand describes its arguments and output.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from twin import __version__
from twin.commands import COMMANDS
from twin.errors import TwinError

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse parser whose usage errors exit with status 2 and a one-line message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="twin",
        description=(
            "Operando digital twin of flexible MOFs: simulate whole crystals under an operating protocol, "
            "turn the trajectory into what XRD/NMR/IR/TEM would record, fit it to measurements, report."
        ),
        epilog="Run `twin COMMAND --help` for the arguments of one command.",
    )
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except TwinError as error:
        print(f"twin {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"twin {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the one place that turns a bug into exit status 1
        traceback.print_exc()
        print(f"twin {args.command}: internal error (a bug; please report it with the traceback above)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
