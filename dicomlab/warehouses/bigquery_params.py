"""BigQuery query parameters from Python values, or from a canned query's declared types.

The google-cloud-bigquery client is imported when :func:`query_parameter` is first called.

>>> query_parameter("n", 5).type_
'INT64'
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dicomlab.errors import QueryError

__all__ = ["query_parameter"]

_SCALAR_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "BOOL"),  # before int: bool is an int
    (int, "INT64"),
    (float, "FLOAT64"),
    (str, "STRING"),
    (bytes, "BYTES"),
    (dt.datetime, "DATETIME"),  # before date: datetime is a date
    (dt.date, "DATE"),
    (dt.time, "TIME"),
)


def _type_of(value: object) -> str:
    for kind, name in _SCALAR_TYPES:
        if isinstance(value, kind):
            if name == "DATETIME" and getattr(value, "tzinfo", None) is not None:
                return "TIMESTAMP"
            return name
    raise QueryError(
        f"a query parameter value of type {type(value).__name__} has no BigQuery type; "
        "use str, int, float, bool, bytes, date, time, datetime or a list of those"
    )


def query_parameter(name: str, value: object, declared: str | None = None) -> Any:
    """A ``ScalarQueryParameter`` or ``ArrayQueryParameter`` for ``@name``.

    ``declared`` is the type a canned query declares (``STRING``,
    ``ARRAY<STRING>``…); otherwise the type follows the Python value.

    >>> query_parameter("uids", ["1.2", "1.3"]).to_api_repr()["parameterType"]
    {'type': 'ARRAY', 'arrayType': {'type': 'STRING'}}
    >>> query_parameter("n", True).type_
    'BOOL'
    """
    from google.cloud import bigquery

    if declared is not None and declared.startswith("ARRAY<"):
        return bigquery.ArrayQueryParameter(name, declared[6:-1], list(value))  # type: ignore[call-overload]
    if declared is None and isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if not items:
            raise QueryError(
                f"parameter {name!r} is an empty list: its element type cannot be told; "
                "pass at least one value, or use a canned query that declares it"
            )
        return bigquery.ArrayQueryParameter(name, _type_of(items[0]), items)
    scalar: Any = value
    return bigquery.ScalarQueryParameter(name, declared or _type_of(value), scalar)
