"""The typed ``@parameters`` of canned queries: their BigQuery types and values.

Pure: no I/O. A canned query's header declares each parameter as
``NAME TYPE description``; :class:`QueryParameter` checks a caller's value
against that type and returns the Python value the engine binds. Types are
BigQuery's scalar names and ``ARRAY<scalar>``; each scalar is a row of
:data:`_SCALARS` (what a caller may pass, the test, the conversion).

>>> QueryParameter("limit", "INT64", "How many.").coerce(5)
5
>>> is_parameter_type("ARRAY<STRING>"), is_parameter_type("STRUCT")
(True, False)
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dicomlab.errors import QueryError

__all__ = ["PARAMETER_TYPES", "QueryParameter", "is_parameter_type"]

# Python 3.10's fromisoformat reads only 0, 3 or 6 fractional digits.
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d{3}(\d{3})?)?")
_DATETIME_RE = re.compile(rf"{_DATE_RE.pattern}[ T]{_TIME_RE.pattern}")
_TIMESTAMP_RE = re.compile(rf"{_DATETIME_RE.pattern}([+-]\d{{2}}:\d{{2}})?")


def _is_bool(v: object) -> bool:
    # numpy.bool_ is no bool subclass; recognise it by its dtype kind.
    return isinstance(v, bool) or getattr(getattr(v, "dtype", None), "kind", "") == "b"


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not _is_bool(v)


def _text(pattern: re.Pattern[str]) -> Callable[[object], bool]:
    return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None


def _iso(kind: Any) -> Callable[[Any], object]:
    return lambda v: kind.fromisoformat(v) if isinstance(v, str) else v


# BigQuery type -> (what a caller may pass, test, conversion to the value bound).
_SCALARS: dict[str, tuple[str, Callable[[object], bool], Callable[[Any], object]]] = {
    "STRING": ("a str", lambda v: isinstance(v, str), str),
    "INT64": ("an int", _is_int, int),
    "FLOAT64": (
        "an int or float",
        lambda v: isinstance(v, numbers.Real) and not _is_bool(v),
        float,
    ),
    "NUMERIC": (
        "a Decimal or int",
        lambda v: isinstance(v, Decimal) or _is_int(v),
        lambda v: Decimal(int(v)) if _is_int(v) else v,
    ),
    "BOOL": ("a bool", _is_bool, bool),
    "BYTES": ("bytes", lambda v: isinstance(v, bytes), bytes),
    "DATE": (
        "a datetime.date or 'YYYY-MM-DD'",
        lambda v: type(v) is dt.date or _text(_DATE_RE)(v),
        _iso(dt.date),
    ),
    "TIME": (
        "a datetime.time or 'HH:MM:SS'",
        lambda v: isinstance(v, dt.time) or _text(_TIME_RE)(v),
        _iso(dt.time),
    ),
    "DATETIME": (
        "a naive datetime or 'YYYY-MM-DD HH:MM:SS'",
        lambda v: (isinstance(v, dt.datetime) and v.tzinfo is None) or _text(_DATETIME_RE)(v),
        _iso(dt.datetime),
    ),
    "TIMESTAMP": (
        "a datetime or 'YYYY-MM-DD HH:MM:SS[+HH:MM]'",
        lambda v: isinstance(v, dt.datetime) or _text(_TIMESTAMP_RE)(v),
        _iso(dt.datetime),
    ),
}
_SCALARS["BIGNUMERIC"] = _SCALARS["NUMERIC"]
_ARRAY_RE = re.compile(rf"ARRAY<({'|'.join(_SCALARS)})>")


def _as_list(v: object) -> list[object]:
    """A list from a list, tuple, set, pandas Series/Index or numpy array, else TypeError."""
    if isinstance(v, (list, tuple, set, frozenset)):
        return list(v)
    items = v.tolist() if hasattr(v, "tolist") and not isinstance(v, (str, bytes)) else None
    if isinstance(items, list):
        return items
    raise TypeError


@dataclass(frozen=True)
class QueryParameter:
    """A named ``@parameter`` of a canned query, with its BigQuery type.

    >>> QueryParameter("day", "DATE", "A study date.").coerce("1998-09-24")
    datetime.date(1998, 9, 24)
    """

    name: str
    type: str
    description: str

    def coerce(self, value: object) -> object:
        """Return ``value`` as the Python value to bind, or raise :class:`QueryError`."""
        array = _ARRAY_RE.fullmatch(self.type)
        if array is None:
            return self._convert(self.type, value, "the value")
        try:
            items = _as_list(value)
        except TypeError:
            raise QueryError(
                f"parameter {self.name!r} is {self.type}: pass a list, tuple, set, "
                f"Series or array, not {type(value).__name__} {reprlib.repr(value)}"
            ) from None
        return [self._convert(array.group(1), v, f"item {i}") for i, v in enumerate(items)]

    def _convert(self, scalar: str, value: object, what: str) -> object:
        hint, accepts, convert = _SCALARS[scalar]
        try:
            if accepts(value):
                return convert(value)  # fromisoformat: ValueError for e.g. '2024-02-30'
        except ValueError:
            pass
        raise QueryError(
            f"parameter {self.name!r} is {self.type}: {what} should be {hint}, "
            f"not {type(value).__name__} {reprlib.repr(value)}"
        )


PARAMETER_TYPES = tuple(_SCALARS)


def is_parameter_type(kind: str) -> bool:
    """Whether ``kind`` (upper case) is a type a canned query's parameter may have.

    >>> is_parameter_type("DATE"), is_parameter_type("ARRAY<INT64>")
    (True, True)
    """
    return kind in _SCALARS or _ARRAY_RE.fullmatch(kind) is not None
