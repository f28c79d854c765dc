"""The ``twin`` command: one subcommand per job, each in ``twin/commands/<name>.py``.

Exit status: 0 success; 2 user error (:class:`~twin.errors.TwinError`, printed as one line, no traceback);
1 internal error (traceback printed). ``--help`` on every subcommand describes its arguments and output.

Compiled code is cached across runs: :func:`main` points JAX's persistent compilation cache at
:func:`compilation_cache_dir` (``$TWIN_CACHE_DIR/jax`` or the user cache folder, e.g.
``~/.cache/operando-mof-twin/jax``) before any command runs, so a second ``twin run`` / ``twin fit`` of the same
shapes loads its XLA executables instead of compiling them; ``TWIN_NO_COMPILATION_CACHE=1`` turns it off.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from twin import __version__
from twin.commands import COMMANDS
from twin.errors import TwinError

__all__ = ["main", "build_parser", "compilation_cache_dir", "enable_compilation_cache"]

APP_NAME = "operando-mof-twin"
#: Compilations shorter than this are not written to the persistent cache. JAX's default, 1 s, keeps only the
#: largest function of a command (the fit's refinement loop); the many small ones add up to seconds as well, and
#: all of `twin fit`'s for the demo take 26 entries, 1.8 MB (benchmarks/README.md, Fit).
CACHE_MIN_COMPILE_TIME_S = 0.0
#: Least recently used entries are evicted beyond this size (when the ``filelock`` package is installed, which
#: JAX's eviction needs; without it the folder is not limited).
CACHE_MAX_BYTES = 2 * 2**30

_EPILOG = """\
Run `twin COMMAND --help` for the arguments of one command.

Compiled code is cached across runs, so that a second run of the same shapes starts
without compiling: in $TWIN_CACHE_DIR/jax if TWIN_CACHE_DIR is set, else in the user
cache folder ($XDG_CACHE_HOME/operando-mof-twin/jax, by default
~/.cache/operando-mof-twin/jax; it may be deleted at any time). TWIN_NO_COMPILATION_CACHE=1
turns the cache off; a JAX_COMPILATION_CACHE_DIR in the environment is used as it is.
"""


class _Parser(argparse.ArgumentParser):
    """argparse parser whose usage errors exit with status 2 and a one-line message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="twin",
        description=(
            "Operando digital twin of flexible MOFs: simulate whole crystals under an operating protocol,\n"
            "turn the trajectory into what XRD/NMR/IR/TEM would record, fit it to measurements, report."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def compilation_cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the ``twin`` command keeps JAX's compiled code, or ``None`` when the cache is off.

    ``TWIN_NO_COMPILATION_CACHE`` set to anything but ``""``/``0``: off. Otherwise ``$TWIN_CACHE_DIR/jax`` if
    ``TWIN_CACHE_DIR`` is set, else ``jax`` in the user cache folder of ``operando-mof-twin`` (as platformdirs
    has it: ``$XDG_CACHE_HOME/operando-mof-twin/jax`` or ``~/.cache/operando-mof-twin/jax`` on Linux, the
    platform's cache folder on macOS and Windows; beside the data cache of ``twin datasets``).
    """
    env = os.environ if environ is None else environ
    if env.get("TWIN_NO_COMPILATION_CACHE", "").strip() not in ("", "0"):
        return None
    root = env.get("TWIN_CACHE_DIR", "").strip()
    if root:
        return Path(root).expanduser() / "jax"
    if sys.platform in ("darwin", "win32"):
        import platformdirs  # a dependency of pooch

        return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "jax"
    xdg = env.get("XDG_CACHE_HOME", "").strip()  # as platformdirs (and so pooch's data cache) on Linux
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / APP_NAME / "jax"


def enable_compilation_cache(environ: Mapping[str, str] | None = None) -> Path | None:
    """Point JAX's persistent compilation cache at :func:`compilation_cache_dir` (once, at start-up).

    Returns the folder in use, or ``None`` when the cache is off or the folder cannot be created (then
    everything is compiled as before). A ``JAX_COMPILATION_CACHE_DIR`` (or a directory set earlier in this
    process) is left as it is and returned.
    """
    import jax

    env = os.environ if environ is None else environ
    if env.get("TWIN_NO_COMPILATION_CACHE", "").strip() not in ("", "0"):
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return Path(current)
    path = compilation_cache_dir(env)
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_TIME_S)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # no size floor, no backend override
    if importlib.util.find_spec("filelock") is not None:  # JAX's size limit needs it (not a dependency of ours)
        jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    enable_compilation_cache()
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
