r"""The ``twin`` command: one subcommand per job, each in ``twin/commands/<name>.py``.

Exit status: 0 success; 2 user error (:class:`~twin.errors.TwinError`, printed as one line, no traceback);
1 internal error (traceback printed); 130 interrupted (Ctrl-C); 141 (128 + SIGPIPE, quietly) when the program reading the
output closed the pipe (``twin xrd … --peaks | head``). ``--help`` on every subcommand describes its
arguments and output. Control characters and bidirectional overrides in an error message (a file name or a
TOML string holding U+202E or a NUL) are printed as escapes (``\u202e``, ``\x00``), so that the message stays one
line and reads as it is.

Ctrl-C: the console script prints ``interrupted``, flushes its streams and leaves through ``os._exit(130)``.
A normal interpreter exit after a KeyboardInterrupt that arrived inside an XLA compilation runs JAX's atexit
hook (``jax._src.api.clean_up`` → ``clear_backends``), which frees the backend while the interrupted compilation
still holds it, and the process died with SIGSEGV (139) instead of 130. Nothing of ours needs the interpreter's
exit handlers: the `with` blocks the KeyboardInterrupt passed through have closed every file, and outputs are
written to ``*.partial`` and renamed only when complete. A second Ctrl-C leaves at once (the first one can be
swallowed where Python cannot raise it, e.g. inside a garbage-collector callback of JAX).

Compiled code is cached across runs: :func:`main` points JAX's persistent compilation cache at
:func:`compilation_cache_dir` (``$TWIN_CACHE_DIR/jax`` or the user cache folder, e.g.
``~/.cache/operando-mof-twin/jax``) before any command runs, so a second ``twin run`` / ``twin fit`` of the same
shapes loads its XLA executables instead of compiling them; ``TWIN_NO_COMPILATION_CACHE=1`` turns it off.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import traceback
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

from twin import __version__
from twin.commands import COMMANDS
from twin.errors import TwinError

__all__ = ["main", "build_parser", "compilation_cache_dir", "enable_compilation_cache", "one_line"]

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


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    r"""``text`` with every control, format and separator character escaped (``\x00``, ``\n``, ``\u202e``), so that
    a message is printed as one line and a right-to-left override in a name cannot reorder what follows it."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            code = ord(ch)
            out.append(_NAMED_ESCAPES.get(ch) or (f"\\x{code:02x}" if code < 0x100 else
                                                  f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"))
        else:
            out.append(ch)
    return "".join(out)


def _check_distributed(args: argparse.Namespace) -> None:
    """``--distributed``: refuse, before JAX starts, what ``jax.distributed.initialize`` would refuse with a bare
    ValueError (no coordinator outside a detected cluster, a process id outside 0..N-1)."""
    n, i, coordinator = args.num_processes, args.process_id, args.coordinator
    if n is not None and n < 1:
        raise TwinError(f"--num-processes: expected an integer ≥ 1, got {n}")
    if i is not None and (i < 0 or (n is not None and i >= n)):
        raise TwinError(f"--process-id: expected an integer from 0 to {n - 1 if n is not None else 'N-1'}, got {i}")
    if coordinator is not None and n is not None and i is not None:
        return
    if _cluster_detected():
        return
    missing = [name for name, value in (("--coordinator HOST:PORT", coordinator), ("--num-processes N", n),
                                        ("--process-id I", i)) if value is None]
    raise TwinError(f"--distributed: no cluster environment detected (SLURM, Open MPI, Kubernetes, Cloud TPU), so "
                    f"{', '.join(missing)} must be given (every process gets the same coordinator and process count "
                    f"and its own process id)")


def _cluster_detected() -> bool:
    """Whether ``jax.distributed.initialize()`` would find its parameters in the environment (its own detection)."""
    try:
        from jax._src.clusters import ClusterEnv  # private, but what initialize() itself consults

        return any(not env.opt_in_only_method and env.is_env_present() for env in ClusterEnv._cluster_types)
    except Exception:  # noqa: BLE001 - a changed JAX: let jax.distributed.initialize decide
        return True


class _Interrupts:
    """SIGINT of the console script: the first raises KeyboardInterrupt, a second one leaves at once."""

    def __init__(self, command: str):
        self.command, self.count = command, 0

    def __call__(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count > 1:
            _leave_interrupted(self.command)
        raise KeyboardInterrupt


def _leave_interrupted(command: str) -> None:
    """Print ``interrupted``, flush and end the process with status 130 without the interpreter's exit handlers
    (see the module docstring for why: JAX's atexit hook crashes after an interrupted compilation)."""
    try:
        from mofcore.outputs import release_held_locks

        release_held_locks()  # os._exit runs no __exit__ of a with block the interrupt did not unwind
        print(f"twin {command}: interrupted", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(130)


def _silence_stdout() -> None:
    """Point standard output at ``/dev/null`` after its reader closed the pipe, so that the interpreter's final
    flush of the buffered rest raises nothing more (the recipe of the Python documentation, ``signal`` module,
    "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (tests capture it)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` console script; returns the exit status.

    Called without ``argv`` (the console script, ``python -m twin.cli``), a Ctrl-C ends the process with status
    130 through :func:`os._exit`; called with ``argv`` (tests, other programs) it returns 130.
    """
    console = argv is None
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    previous = None
    if console and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous = signal.signal(signal.SIGINT, _Interrupts(args.command))
    try:
        if getattr(args, "distributed", False):
            _check_distributed(args)
        enable_compilation_cache()
        return int(args.handler(args) or 0)
    except TwinError as error:
        print(f"twin {args.command}: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if console:
            _leave_interrupted(args.command)
        print(f"twin {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `twin xrd --peaks | head`: the reader has gone; end quietly, like a tool killed by SIGPIPE
        _silence_stdout()
        return 128 + signal.SIGPIPE
    except Exception:  # noqa: BLE001 - the one place that turns a bug into exit status 1
        traceback.print_exc()
        print(f"twin {args.command}: internal error (a bug; please report it with the traceback above)", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
