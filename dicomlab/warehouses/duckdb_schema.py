"""How a DuckDB column's type grows to hold appended rows, or why it cannot.

An append may bring columns and nested fields (inside STRUCTs, or STRUCTs in
lists) that the table lacks. DuckDB's ``INSERT … BY NAME`` would drop a nested
field the table's STRUCT lacks and cast a value of another type silently, so
the table's type is widened first: new fields are added at the end (as
BigQuery's field addition does), and a type that cannot hold the new values
without loss is refused with an error naming the field.
"""

from __future__ import annotations

import duckdb
from duckdb.sqltypes import DuckDBPyType

from dicomlab.errors import InvalidRequestError

__all__ = ["merged_type"]

# Integer types by width: a narrower one fits in a wider one without loss.
_INTEGER_RANK = {"tinyint": 0, "smallint": 1, "integer": 2, "bigint": 3, "hugeint": 4}


def _fits(have: DuckDBPyType, new: DuckDBPyType) -> bool:
    """Whether every ``new`` value is also a ``have`` value (a scalar type, no loss)."""
    if new == have or new.id == "null":
        return True
    if new.id in _INTEGER_RANK and have.id in _INTEGER_RANK:
        return _INTEGER_RANK[new.id] <= _INTEGER_RANK[have.id]
    return bool(new.id == "float" and have.id == "double")


def merged_type(field: str, have: DuckDBPyType, new: DuckDBPyType) -> DuckDBPyType:
    """The type column ``field`` needs to hold its ``have`` values and the ``new`` ones.

    Nested fields the table lacks are added after the ones it has; a column
    that holds only NULLs so far takes the new type. Anything else that would
    change or lose a value raises :class:`~dicomlab.errors.InvalidRequestError`
    naming the field (``Sequence.Keyword`` for nested ones).

    >>> have = duckdb.sqltype("STRUCT(A VARCHAR)[]")
    >>> str(merged_type("S", have, duckdb.sqltype("STRUCT(A VARCHAR, B BIGINT)[]")))
    'STRUCT(A VARCHAR, B BIGINT)[]'
    >>> merged_type("S", have, duckdb.sqltype("STRUCT(A BIGINT)[]"))
    Traceback (most recent call last):
    ...
    dicomlab.errors.InvalidRequestError: field 'S.A' is VARCHAR in the table but BIGINT ...
    """
    if have.id == "null":
        return new
    if have.id == "list" and new.id == "list":
        return duckdb.list_type(merged_type(field, _child(have), _child(new)))
    if have.id == "struct" and new.id == "struct":
        fields = _fields(have)
        for name, kind in _fields(new).items():
            fields[name] = (
                merged_type(f"{field}.{name}", fields[name], kind) if name in fields else kind
            )
        return duckdb.struct_type(fields)
    if have.id not in ("list", "struct") and new.id not in ("list", "struct") and _fits(have, new):
        return have
    raise InvalidRequestError(
        f"field {field!r} is {have} in the table but {new} in the new rows; "
        "an append never converts values: write to a new table, or replace this one "
        "with write_disposition='WRITE_TRUNCATE'",
        value=field,
    )


def _child(kind: DuckDBPyType) -> DuckDBPyType:
    """The element type of a LIST type."""
    return _fields(kind)["child"]


def _fields(kind: DuckDBPyType) -> dict[str, DuckDBPyType]:
    """A STRUCT's fields (or a LIST's ``child``) by name, in order."""
    return {name: sub for name, sub in kind.children if isinstance(sub, DuckDBPyType)}
