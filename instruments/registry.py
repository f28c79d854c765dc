"""The one registry of techniques: name → :class:`~instruments.technique.Technique`.

``twin observe``, ``twin fit`` and ``twin report`` ask this registry what exists; the list of techniques lives
here and nowhere else. A built-in technique is one line of :data:`BUILTIN` (a ``"module:attribute"`` reference
to its :class:`~instruments.technique.Technique`, imported on first use so that the command line starts fast);
a technique outside the package (a plug-in, a test's toy technique) joins at run time with :func:`register`.
"""

from __future__ import annotations

from instruments.technique import Technique, resolve
from mofcore.errors import TwinError

__all__ = ["BUILTIN", "register", "unregister", "techniques", "get", "for_fit", "names"]

#: the built-in techniques, in report order: one line each
BUILTIN: tuple[str, ...] = (
    "instruments.xrd.technique:XRD",
    "instruments.xrd.technique:TOTAL_SCATTERING",
    "instruments.isotherm:ISOTHERM",
    "instruments.nmr.technique:NMR",
    "instruments.vib.technique:IR",
    "instruments.vib.technique:RAMAN",
    "instruments.tem.technique:TEM",
)

_registered: dict[str, Technique] = {}
_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        for ref in BUILTIN:
            technique = resolve(ref)
            _registered.setdefault(technique.name, technique)
        _loaded = True


def register(technique: Technique) -> Technique:
    """Add ``technique`` (or replace one of the same name); returns it."""
    _load()
    _registered[technique.name] = technique
    return technique


def unregister(name: str) -> None:
    """Remove a technique added with :func:`register` (for tests)."""
    _load()
    _registered.pop(name, None)


def techniques() -> tuple[Technique, ...]:
    """Every registered technique, built-in ones first in :data:`BUILTIN` order."""
    _load()
    return tuple(_registered.values())


def names() -> tuple[str, ...]:
    return tuple(t.name for t in techniques())


def _unknown(kind: str, name: str, known: list[str]) -> TwinError:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return TwinError(f"{kind}: expected one of {', '.join(known)}, got {name!r}{hint}")


def get(name: str, *, where: str = "technique") -> Technique:
    """The technique called ``name``; a :class:`TwinError` listing the known names otherwise."""
    for technique in techniques():
        if technique.name == name:
            return technique
    raise _unknown(where, name, list(names()))


def for_fit(name: str, *, where: str = "fit.technique") -> Technique:
    """The technique a fit file means by ``[fit] technique = name`` (``"xrd-series"`` → XRD)."""
    fittable = [t for t in techniques() if t.fit is not None]
    for technique in fittable:
        if name in technique.names_in_fit_files:
            return technique
    raise _unknown(where, name, [n for t in fittable for n in t.names_in_fit_files])
