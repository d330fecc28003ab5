"""The schema a BigQuery append sends: the table's fields, then the new ones.

BigQuery adds fields on append only when asked (``ALLOW_FIELD_ADDITION``) and
only when the load's schema holds every field the table has, in RECORDs too.
:func:`merged_fields` builds that schema from the table's fields and the new
rows' fields (REST ``fields`` dicts, as ``SchemaField.to_api_repr`` gives
them), and refuses a field whose type or mode differs, naming it: an append
never converts a value. Field names match as BigQuery matches column names,
ignoring case.

>>> table = [{"name": "S", "type": "RECORD", "mode": "REPEATED",
...           "fields": [{"name": "A", "type": "STRING", "mode": "NULLABLE"}]}]
>>> rows = [{"name": "S", "type": "RECORD", "mode": "REPEATED",
...          "fields": [{"name": "B", "type": "INTEGER", "mode": "NULLABLE"}]}]
>>> [f["name"] for f in merged_fields(table, rows)[0]["fields"]]
['A', 'B']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dicomlab.errors import InvalidRequestError

__all__ = ["added_fields", "merged_fields"]

# Legacy and standard SQL spellings of one type.
_ALIASES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}


def _kind(field: dict[str, Any]) -> str:
    kind = str(field.get("type", "STRING")).upper()
    return _ALIASES.get(kind, kind)


def _mode(field: dict[str, Any]) -> str:
    return str(field.get("mode") or "NULLABLE").upper()


def merged_fields(
    table: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], *, path: str = ""
) -> list[dict[str, Any]]:
    """The table's fields with the rows' new fields added after them, at every level.

    Raises :class:`~dicomlab.errors.InvalidRequestError` (its ``value`` the
    field, ``Sequence.Keyword`` when nested) when a field's type or mode differs.
    A REQUIRED field in the rows fits a NULLABLE one in the table.
    """
    merged = [dict(field) for field in table]
    by_name = {str(field["name"]).lower(): field for field in merged}
    for field in rows:
        name = f"{path}{field['name']}"
        have = by_name.get(str(field["name"]).lower())
        if have is None:
            merged.append(dict(field))
            continue
        fits = _mode(have) == _mode(field) or (_mode(have), _mode(field)) == (
            "NULLABLE",
            "REQUIRED",
        )
        if _kind(have) != _kind(field) or not fits:
            raise InvalidRequestError(
                f"field {name!r} is {_mode(have)} {_kind(have)} in the table but "
                f"{_mode(field)} {_kind(field)} in the new rows; an append never converts "
                "values: write to a new table, or replace this one with "
                "write_disposition='WRITE_TRUNCATE'",
                value=name,
            )
        if _kind(have) == "RECORD":
            have["fields"] = merged_fields(
                have.get("fields") or [], field.get("fields") or [], path=f"{name}."
            )
    return merged


def added_fields(
    table: Sequence[dict[str, Any]], merged: Sequence[dict[str, Any]], *, path: str = ""
) -> list[str]:
    """The names (``Sequence.Keyword`` when nested) in ``merged`` that ``table`` lacks.

    >>> added_fields([{"name": "A"}], [{"name": "A"}, {"name": "B"}])
    ['B']
    """
    have = {str(f["name"]).lower(): f for f in table}
    added: list[str] = []
    for field in merged:
        name = f"{path}{field['name']}"
        old = have.get(str(field["name"]).lower())
        if old is None:
            added.append(name)
        elif field.get("fields"):
            added += added_fields(old.get("fields") or [], field["fields"], path=f"{name}.")
    return added
