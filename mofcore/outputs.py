"""Output locations: checked before any work starts, locked while a command writes, written as a set.

Every ``twin`` command that writes goes through this module (docs/limits.md, "Output directories"):

* :func:`check_output_dir` / :func:`check_output_file` — an ``-o`` that is an existing file (or, for a file
  output, a directory), lies in a directory that cannot be written, or has a name longer than the file system
  allows is refused with one line naming the path, *before* a simulation or fit starts.
* :class:`OutputLock` — ``OUT/.twin.lock``, created atomically (``O_CREAT | O_EXCL``) and holding the owner's
  pid, host, command and start time. A second command on the same directory is refused with the owner named.
  A lock whose process is gone (same host: no such pid, or the pid now belongs to a process started later) is
  stale and taken over; the lock is removed when the command ends, on success, on an error and on Ctrl-C (a
  SIGKILL leaves it, and the next command finds it stale).
* :func:`output_set` — files that belong together (a fit's ``fit_result.json``, ``fit_series.csv`` and
  figure) are written into a temporary directory beside their target and moved in one by one only when all
  are complete, the manifest last; each carries the same run id (:func:`new_run_id`; JSON ``"run_id"``, CSV
  ``# run_id=`` first line, PNG text chunk ``run_id``) and the manifest lists the others, so a reader
  (:func:`check_run_set`) tells a set mixed by an interrupted move from a complete one.

Imports nothing from ``twin``, ``instruments`` or ``reports``.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
import struct
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mofcore.errors import TwinError

__all__ = ["OutputError", "OutputLocked", "LOCK_NAME", "check_output_dir", "check_output_file", "LockOwner",
           "OutputLock", "lock_output", "read_lock", "new_run_id", "OutputSet", "output_set", "read_run_id",
           "check_run_set", "release_held_locks"]

#: the lock file every writing command holds in its output directory
LOCK_NAME = ".twin.lock"
#: held (O_EXCL) for the instant of removing a stale lock, so that two commands never both take it over
_BREAKER_NAME = ".twin.lock.break"
#: a breaker older than this was left by a killed process [s]
_BREAKER_STALE_S = 30.0
#: a lock file still empty or unreadable after this long was left by a process killed while creating it [s]
_UNREADABLE_STALE_S = 10.0
_SET_PREFIX = ".twin-set-"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class OutputError(TwinError):
    """An output location that cannot be used: not a directory, not writable, a name too long, or results
    there that the command would replace without being asked to."""


class OutputLocked(OutputError):
    """The output directory is locked by another ``twin`` command."""


# ------------------------------------------------------------------------------------- location checks
def _limit(path: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(path, name))
    except (OSError, ValueError, AttributeError):
        return default


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _check_length(path: Path, option: str) -> None:
    anchor = _nearest_existing(path)
    base = anchor if anchor.is_dir() else anchor.parent
    name_max, path_max = _limit(base, "PC_NAME_MAX", 255), _limit(base, "PC_PATH_MAX", 4096)
    for part in Path(os.path.abspath(path)).parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise OutputError(f"{path}: the name {part[:24]!r}… is {size} bytes, longer than the file system allows "
                              f"({name_max}); give {option} a shorter name")
    size = len(os.fsencode(os.path.abspath(path)))
    if size > path_max:
        raise OutputError(f"{path}: the path is {size} bytes, longer than the file system allows ({path_max}); "
                          f"give {option} a shorter path")


def _unwritable(directory: Path) -> str | None:
    """Why nothing can be created in ``directory`` (a probe file is created and removed), or ``None``."""
    try:
        fd, name = tempfile.mkstemp(prefix=".twin-probe-", dir=directory)
    except OSError as error:
        return error.strerror or type(error).__name__
    os.close(fd)
    os.unlink(name)
    return None


def _check_creatable(path: Path, option: str) -> None:
    """``path`` does not exist: its nearest existing ancestor must be a directory we can write in."""
    if os.path.islink(path):
        raise OutputError(f"{path}: a symbolic link to a missing {os.readlink(path)}; give {option} another path "
                          "or create its target")
    anchor = _nearest_existing(path)
    if not anchor.is_dir():
        raise OutputError(f"{path}: {anchor} is a file, so no directory can be created under it; give {option} "
                          "another path")
    reason = _unwritable(anchor)
    if reason:
        raise OutputError(f"{path}: cannot create it in {anchor} ({reason}); give {option} a location you can write to")


def check_output_dir(path: str | Path, *, option: str = "-o", must_exist: bool = False,
                     missing: str | None = None) -> Path:
    """Refuse an output directory that cannot be used, before any work starts; returns it as a Path.

    Args:
        path: the directory a command writes into (created later by the command when missing).
        option: how the user gave it (``"-o"``, ``"OUT"``), for the message.
        must_exist: the directory must exist already (``twin observe OUT``, ``twin report OUT``).
        missing: with ``must_exist``, the message for a missing directory (default: "not found").

    Raises:
        OutputError: an existing file, a directory (or missing directory's parent) that cannot be written, a
            name or path too long, a missing directory with ``must_exist``.
    """
    path = Path(path)
    if not str(path):
        raise OutputError(f"{option}: expected a directory, got an empty path")
    _check_length(path, option)
    if path.exists():
        if not path.is_dir():
            raise OutputError(f"{path}: exists and is not a directory; give {option} a directory (or move the file)")
        reason = _unwritable(path)
        if reason:
            raise OutputError(f"{path}: cannot write in this directory ({reason}); give {option} a directory you can "
                              "write to")
        return path
    if must_exist:
        raise OutputError(f"{path}: {missing or 'directory not found'}")
    _check_creatable(path, option)
    return path


def check_output_file(path: str | Path, *, option: str = "-o", beside: Iterable[str] = (),
                      example: str = "out.csv") -> Path:
    """Refuse an output file that cannot be written, before any work starts; returns it as a Path.

    Args:
        path: the file a command writes (replaced when it exists).
        beside: suffixes of files written next to it (``".png"``: ``path.with_suffix(".png")``), checked too.
        example: a file name for the message.

    Raises:
        OutputError: a directory at ``path`` (or at a file beside it), a parent that cannot be written or
            created, a file that cannot be replaced, a name or path too long.
    """
    path = Path(path)
    if not str(path) or str(path).endswith(os.sep):
        raise OutputError(f"{path}: {option} names a file such as {example}, not a directory")
    _check_length(path, option)
    for target in (path, *(path.with_suffix(s) for s in beside)):
        if target.is_dir():
            raise OutputError(f"{target}: is a directory; {option} names a file such as {example}")
    parent = path.parent
    if parent.exists():
        if not parent.is_dir():
            raise OutputError(f"{path}: {parent} is a file, not a directory; give {option} another path")
        reason = _unwritable(parent)
        if reason:
            raise OutputError(f"{path}: cannot write in {parent} ({reason}); give {option} a location you can write to")
    else:
        _check_creatable(parent, option)
    for target in (path, *(path.with_suffix(s) for s in beside)):
        if target.exists() and not os.access(target, os.W_OK):
            raise OutputError(f"{target}: exists and cannot be replaced (no write permission); give {option} "
                              "another file")
    return path


# ------------------------------------------------------------------------------------------------- lock
@dataclass(frozen=True)
class LockOwner:
    """Who holds an output directory's lock (the content of ``OUT/.twin.lock``)."""

    pid: int
    host: str
    command: str
    started: str
    token: str
    start_ticks: int | None = None

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, `{self.command}`, since {self.started}"


def _start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (Linux ``/proc/PID/stat`` field 22), or ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return int(text[text.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(owner: LockOwner) -> bool:
    """Whether the lock owner's process runs (only answerable on its own host: elsewhere assume it does)."""
    if owner.host != socket.gethostname():
        return True
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process with that pid
        pass
    except OSError:
        return True
    if owner.start_ticks is not None:
        now = _start_ticks(owner.pid)
        if now is not None and now != owner.start_ticks:  # the pid was reused by a later process
            return False
    return True


def read_lock(path: str | Path) -> LockOwner | None:
    """The owner recorded in a lock file, or ``None`` when it is missing, empty or unreadable."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return LockOwner(pid=int(doc["pid"]), host=str(doc["host"]), command=str(doc.get("command", "?")),
                         started=str(doc.get("started", "?")), token=str(doc["token"]),
                         start_ticks=None if doc.get("start_ticks") is None else int(doc["start_ticks"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class OutputLock:
    """The exclusive lock of an output directory: ``with OutputLock(out, "twin run s.toml -o out"):``.

    Raises (on entry) :class:`OutputLocked` naming the owner when another command holds it, and
    :class:`OutputError` when the lock file cannot be created.
    """

    def __init__(self, directory: str | Path, command: str):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.command = command
        self.owner: LockOwner | None = None

    def acquire(self) -> OutputLock:
        """Take the lock: the owner's record is written to a private file first and linked to ``.twin.lock`` in one
        step (``link`` fails when the name exists), so the lock is never seen empty; where the file system has no
        hard links, ``O_EXCL`` creation and a write (the lock is empty for an instant, which readers wait out)."""
        for _ in range(50):
            try:
                if self._link_new() or self._create_new():
                    return self
            except FileExistsError:
                owner = self._wait_readable()
                if owner is not None and _alive(owner):
                    raise OutputLocked(
                        f"{self.directory}: in use by another twin command ({owner.describe()}); wait for it to "
                        f"finish (or, if that process is gone, remove {self.path})"
                    ) from None
                self._break(owner)
            except OSError as error:
                raise OutputError(f"{self.path}: cannot create the lock file ({error.strerror}); check that "
                                  f"{self.directory} is a directory you can write to") from None
        raise OutputLocked(f"{self.directory}: could not take the lock {self.path} (others keep taking it); try again")

    def _create_new(self) -> bool:
        """Take the lock by ``O_EXCL`` creation, then write the record (file systems without hard links).

        Raises:
            FileExistsError: the lock is held.
        """
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        owner = self._new_owner()
        try:
            os.write(fd, (json.dumps(owner.__dict__) + "\n").encode("utf-8"))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        os.close(fd)
        self._hold(owner)
        return True

    def _new_owner(self) -> LockOwner:
        pid = os.getpid()
        return LockOwner(pid=pid, host=socket.gethostname(), command=self.command,
                         started=time.strftime("%Y-%m-%dT%H:%M:%S%z"), token=secrets.token_hex(8),
                         start_ticks=_start_ticks(pid))

    def _link_new(self) -> bool:
        """Try to take the lock by a hard link of a complete record; ``False`` where links are not supported.

        Raises:
            FileExistsError: the lock is held (or being broken).
        """
        owner = self._new_owner()
        record = self.directory / f"{LOCK_NAME}.{owner.pid}.{owner.token}"
        try:
            fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, (json.dumps(owner.__dict__) + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(record, self.path)
            except FileExistsError:
                raise
            except OSError as error:
                if error.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
                    return False
                raise
            self._hold(owner)
            return True
        finally:
            record.unlink(missing_ok=True)

    def _hold(self, owner: LockOwner) -> None:
        self.owner = owner
        _HELD.add(self)

    def _wait_readable(self) -> LockOwner | None:
        """The owner of an existing lock; a lock being created is empty for an instant, so wait a little.
        ``None``: no owner can be read (the file vanished, or it was left empty or garbled)."""
        deadline = time.monotonic() + 1.0
        while True:
            owner = read_lock(self.path)
            if owner is not None or not self.path.exists():
                return owner
            try:
                age = time.time() - self.path.stat().st_mtime
            except OSError:
                return None
            if age > _UNREADABLE_STALE_S:
                return None
            if time.monotonic() > deadline:
                raise OutputLocked(f"{self.directory}: in use by another twin command (its lock {self.path} is being "
                                   f"written); wait for it to finish")
            time.sleep(0.02)

    def _break(self, stale: LockOwner | None) -> None:
        """Remove a stale lock, unless another command replaced it meanwhile (one breaker at a time)."""
        breaker = self.directory / _BREAKER_NAME
        try:
            fd = os.open(breaker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                if time.time() - breaker.stat().st_mtime > _BREAKER_STALE_S:
                    breaker.unlink(missing_ok=True)
            except OSError:
                pass
            time.sleep(0.02)
            return
        try:
            current = read_lock(self.path)
            same = (current is None) if stale is None else (current is not None and current.token == stale.token)
            if same:
                self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)
            breaker.unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock file if it is still ours."""
        _HELD.discard(self)
        if self.owner is None:
            return
        current = read_lock(self.path)
        if current is not None and current.token == self.owner.token:
            self.path.unlink(missing_ok=True)
        self.owner = None

    def __enter__(self) -> OutputLock:
        try:
            return self.acquire()
        except BaseException:  # Ctrl-C inside acquire, after the lock was taken: no __exit__ will run
            self.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self.release()


#: the locks this process holds now (released by :func:`release_held_locks` on an exit that skips ``with`` blocks)
_HELD: set[OutputLock] = set()


def release_held_locks() -> None:
    """Release every lock this process holds: for an exit through ``os._exit`` (Ctrl-C of the console script),
    which runs no ``finally`` or ``__exit__`` of frames a ``KeyboardInterrupt`` did not unwind — an interrupt
    arriving between taking a lock and entering its ``with`` block would otherwise leave it behind."""
    for lock in list(_HELD):
        try:
            lock.release()
        except OSError:
            pass


@contextmanager
def lock_output(directory: str | Path, command: str, *, create: bool = True) -> Iterator[OutputLock]:
    """Create ``directory`` (with ``create``) and hold its lock for the block (:class:`OutputLock`)."""
    directory = Path(directory)
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{directory}: cannot create the directory ({error.strerror})") from None
    with OutputLock(directory, command) as lock:
        yield lock


# --------------------------------------------------------------------------------------- sets of files
def new_run_id() -> str:
    """A run id unique to one write of a set: UTC time and 8 random hex digits, e.g. ``20250101T120000Z-1a2b3c4d``."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(4)}"


class OutputSet:
    """Files written together (:func:`output_set`): write each to :meth:`path`, they move in at the end."""

    def __init__(self, staging: Path, target: Path, run_id: str, last: tuple[str, ...]):
        self.staging, self.target, self.run_id, self.last = staging, target, run_id, last

    def path(self, name: str) -> Path:
        """Where to write ``name`` now (in the staging directory)."""
        return self.staging / name

    def names(self) -> list[str]:
        """The files written so far, in the order they move in (the manifest ``last``)."""
        written = sorted(p.name for p in self.staging.iterdir() if p.is_file())
        return [n for n in written if n not in self.last] + [n for n in self.last if n in written]

    def commit(self) -> list[Path]:
        """fsync every file, then move each into the target directory (``last`` ones at the end)."""
        names = self.names()
        for name in names:
            fd = os.open(self.staging / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        moved = []
        for name in names:
            os.replace(self.staging / name, self.target / name)
            moved.append(self.target / name)
        return moved


@contextmanager
def output_set(directory: str | Path, *, run_id: str | None = None,
               last: tuple[str, ...] = ()) -> Iterator[OutputSet]:
    """Write a set of files into ``directory`` as one: ``with output_set(out, last=("fit_result.json",)) as s:``
    write ``s.path(name)`` for each; when the block ends they are moved in (``last`` after the others). On
    any error (Ctrl-C included) nothing is moved and the staging directory is removed.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_SET_PREFIX, dir=directory))
    try:
        staged = OutputSet(staging, directory, run_id or new_run_id(), tuple(last))
        yield staged
        staged.commit()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _png_text(path: Path) -> dict[str, str]:
    """The tEXt/iTXt chunks of a PNG file (keyword → text)."""
    out: dict[str, str] = {}
    with path.open("rb") as handle:
        if handle.read(8) != _PNG_SIGNATURE:
            return out
        while True:
            head = handle.read(8)
            if len(head) < 8:
                return out
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IDAT" or kind == b"IEND":
                return out
            data = handle.read(length)
            handle.read(4)
            if kind == b"tEXt" and b"\0" in data:
                key, _, value = data.partition(b"\0")
                out[key.decode("latin-1")] = value.decode("latin-1")
            elif kind == b"iTXt" and b"\0" in data:
                key, _, rest = data.partition(b"\0")
                compressed, rest = rest[:1], rest[2:]
                _, _, rest = rest.partition(b"\0")  # language tag
                _, _, text = rest.partition(b"\0")  # translated keyword
                try:
                    raw = zlib.decompress(text) if compressed == b"\1" else text
                    out[key.decode("latin-1")] = raw.decode("utf-8")
                except (zlib.error, UnicodeDecodeError):
                    pass


def read_run_id(path: str | Path) -> str | None:
    """The run id a file of a set carries (JSON ``"run_id"``, CSV ``# run_id=`` line, PNG text ``run_id``), or
    ``None`` when it carries none or cannot be read."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
            value = doc.get("run_id") if isinstance(doc, dict) else None
            return str(value) if value is not None else None
        if path.suffix == ".png":
            return _png_text(path).get("run_id")
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.startswith("#"):
                    return None
                key, _, value = line[1:].strip().partition("=")
                if key.strip() == "run_id":
                    return value.strip()
    except (OSError, ValueError, struct.error):
        return None
    return None


def check_run_set(manifest: str | Path, *, rerun: str) -> None:
    """Check that the files a set's manifest lists (its ``"outputs"``) carry the manifest's run id.

    A manifest without a run id (written before sets were stamped) is not checked.

    Raises:
        OutputError: a listed file is missing or comes from another run (the set was mixed by an interrupted
            write); the message names the file and says to run ``rerun`` again.
    """
    manifest = Path(manifest)
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # the manifest's own reader reports it
    if not isinstance(doc, dict) or not doc.get("run_id"):
        return
    run_id = str(doc["run_id"])
    for name in doc.get("outputs") or []:
        path = manifest.parent / str(name)
        if not path.is_file():
            raise OutputError(f"{path}: missing, though {manifest.name} (run {run_id}) lists it; the set is "
                              f"incomplete: run `{rerun}` again")
        found = read_run_id(path)
        if found != run_id:
            raise OutputError(f"{path}: from run {found or '(none recorded)'} but {manifest.name} is from run "
                              f"{run_id}: the files were mixed by an interrupted write; run `{rerun}` again")
