"""Metadata columns → ``google.cloud.bigquery.SchemaField`` lists.

The BigQuery client is imported when a function here is first called, so the
embedded default never loads it.

>>> from dicomlab.schema import Column, PN_FIELDS
>>> [f.field_type for f in to_schema_fields({"PatientName": Column("PatientName", "RECORD",
...                                           fields=PN_FIELDS)})]
['RECORD']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dicomlab.schema import Column

__all__ = ["to_schema_field", "to_schema_fields"]


def to_schema_field(column: Column) -> Any:
    """One column as a ``SchemaField`` (RECORDs with their sub-fields)."""
    from google.cloud.bigquery import SchemaField

    return SchemaField(
        column.name,
        column.type,
        mode=column.mode,
        fields=[to_schema_field(f) for f in column.fields],
    )


def to_schema_fields(columns: Mapping[str, Column]) -> list[Any]:
    """The BigQuery schema of a table with these columns, in column order."""
    return [to_schema_field(c) for c in columns.values()]
