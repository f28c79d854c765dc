"""Validation shared by the NMR instrument files (²H and ¹²⁹Xe): messages ``<file>: <key>: <problem>``, and the
check that every table and key of a parsed file is one the nucleus knows."""

from __future__ import annotations

from typing import Any

from mofcore.errors import DataFormatError, UnitError
from mofcore.units import parse_quantity

__all__ = ["fail", "check_tables", "quantity"]


def fail(where: str, key: str, message: str) -> DataFormatError:
    return DataFormatError(f"{where}: {key}: {message}")


def check_tables(doc: dict[str, Any], known: dict[str, Any], where: str, *, nucleus: str = "") -> None:
    """Refuse a table not in ``known`` (table → allowed keys, ``None`` for any) or a key a table does not have;
    the ``nucleus`` entry itself is not a table."""
    for table, value in doc.items():
        if table == "nucleus":
            continue
        if table not in known:
            for_nucleus = f" for {nucleus}" if nucleus else ""
            raise fail(where, table, f"unknown table; known{for_nucleus}: {', '.join(known)}")
        if not isinstance(value, dict):
            raise fail(where, table, "expected a table")
        keys = known[table]
        if keys is not None:
            for key in value:
                if key not in keys:
                    raise fail(where, f"{table}.{key}", f"unknown key; known: {', '.join(sorted(keys))}")


def quantity(where: str, key: str, value: Any, dimension: str, check: Any = None, expected: str = "") -> float:
    """A quantity of the file (:func:`mofcore.units.parse_quantity`), checked: ``<where>: <key>: …`` on failure."""
    try:
        result = parse_quantity(value, dimension, where=key)
    except UnitError as error:
        raise DataFormatError(f"{where}: {error}") from None
    if check is not None and not check(result):
        raise fail(where, key, f"expected {expected}, got {value!r}")
    return result
