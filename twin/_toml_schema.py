"""Validation helpers for TOML tables read at the edge (scenarios, fit files, instrument files).

A :class:`Table` wraps one parsed TOML table together with its key path and the file name, hands out
values with unit conversion and checks, and finally rejects keys nobody asked for with a did-you-mean.
Every message starts with ``<file>: <key.path>:`` so a user can find the offending line.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any, TypeVar

from mofcore.files import parse_toml as load_toml
from twin.errors import TwinError, UnitError
from twin.units import parse_quantity

__all__ = ["Table", "did_you_mean", "load_toml"]


T = TypeVar("T")
_MISSING = object()


class Table:
    """A TOML table being validated.

    Args:
        data: the parsed table.
        path: key path of this table (``"protocol.segments[2]"``; ``""`` for the root).
        source: file name for messages.
        error: the :class:`TwinError` subclass to raise.
    """

    def __init__(self, data: Any, path: str, source: str, error: type[TwinError]) -> None:
        self.path = path
        self.source = source
        self.error = error
        if not isinstance(data, dict):
            raise self._fail(path or "(root)", f"expected a table, got {_type_name(data)}")
        self.data = data
        self._used: set[str] = set()

    # -- messages -------------------------------------------------------------------------------
    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _fail(self, where: str, message: str) -> TwinError:
        return self.error(f"{self.source}: {where}: {message}")

    def fail(self, key: str, message: str) -> TwinError:
        """An error for ``key`` of this table (returned, to be raised by the caller)."""
        return self._fail(self.key_path(key), message)

    # -- access ---------------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self._used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.fail(key, "missing required key")
        return default

    def table(self, key: str, required: bool = False) -> "Table | None":
        if key not in self.data and not required:
            self._used.add(key)
            return None
        return Table(self.raw(key), self.key_path(key), self.source, self.error)

    def tables(self, key: str, required: bool = False) -> list["Table"]:
        """An array of tables (``[[protocol.segments]]``)."""
        value = self.raw(key, _MISSING if required else [])
        if not isinstance(value, list):
            raise self.fail(key, f"expected an array of tables, got {_type_name(value)}")
        if required and not value:
            raise self.fail(key, "expected at least one entry, got an empty array")
        return [Table(item, f"{self.key_path(key)}[{i}]", self.source, self.error) for i, item in enumerate(value)]

    def string(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] | None = None) -> str:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_type_name(value)}")
        if choices is not None and value not in choices:
            hint = did_you_mean(value, choices)
            raise self.fail(key, f"expected one of {', '.join(choices)}, got {value!r}{hint}")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_type_name(value)}")
        return value

    def integer(self, key: str, default: Any = _MISSING, minimum: int | None = None,
                maximum: int | None = None, why: str = "") -> int:
        """An integer in [minimum, maximum]; ``why`` says where the maximum comes from (for the message)."""
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {_type_name(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"expected an integer ≥ {minimum}, got {value}")
        if maximum is not None and value > maximum:
            low = f"{minimum} ≤ " if minimum is not None else ""
            because = f" ({why})" if why else ""
            raise self.fail(key, f"expected an integer {low}n ≤ {maximum}{because}, got {value}")
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        check: Callable[[float], bool] | None = None,
        expected: str = "",
    ) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"expected a number{' ' + expected if expected else ''}, got {_type_name(value)}")
        if check is not None and not check(float(value)):
            raise self.fail(key, f"expected {expected}, got {value}")
        return float(value)

    def quantity(
        self,
        key: str,
        dimension: str,
        default: Any = _MISSING,
        check: Callable[[float], bool] | None = None,
        expected: str = "",
    ) -> float:
        """A quantity with unit, converted to the internal unit; ``check`` tests the converted value."""
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        return self.convert(value, dimension, self.key_path(key), check, expected)

    def convert(
        self,
        value: Any,
        dimension: str,
        where: str,
        check: Callable[[float], bool] | None = None,
        expected: str = "",
    ) -> float:
        try:
            converted = parse_quantity(value, dimension, where=where)
        except UnitError as error:
            raise self.error(f"{self.source}: {error}") from None
        if check is not None and not check(converted):
            raise self._fail(where, f"expected {expected}, got {value!r}")
        return converted

    def expect_keys(self, keys: tuple[str, ...]) -> None:
        """Reject unknown keys now (before value checks that might otherwise hide a misspelt key)."""
        for key in self.data:
            if key not in keys:
                hint = did_you_mean(key, keys)
                raise self.fail(key, f"unknown key{hint}; known keys here: {', '.join(sorted(keys))}")

    def finish(self) -> None:
        """Reject keys that were never read, suggesting the closest known key."""
        for key in self.data:
            if key not in self._used:
                hint = did_you_mean(key, tuple(self._used))
                known = ", ".join(sorted(self._used)) or "(none)"
                raise self.fail(key, f"unknown key{hint}; known keys here: {known}")


def did_you_mean(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
