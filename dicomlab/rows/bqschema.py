"""Metadata columns → ``google.cloud.bigquery.SchemaField`` lists.

The BigQuery client is imported when a function here is first called, so the
embedded default never loads it.

>>> from dicomlab.rows.schema import Column, PN_FIELDS
>>> [f.field_type for f in to_schema_fields({"PatientName": Column("PatientName", "RECORD",
...                                           fields=PN_FIELDS)})]
['RECORD']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dicomlab.rows.schema import Column

__all__ = ["schema_from_arrow", "to_schema_field", "to_schema_fields"]


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


def _field_from_arrow(field: Any) -> Any:
    """One ``SchemaField`` from an Arrow field: lists are REPEATED, structs RECORD."""
    import pyarrow as pa
    from google.cloud.bigquery import SchemaField

    kind, mode = field.type, "NULLABLE"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        kind, mode = kind.value_type, "REPEATED"
    if pa.types.is_struct(kind):
        children = [_field_from_arrow(kind.field(i)) for i in range(kind.num_fields)]
        return SchemaField(field.name, "RECORD", mode=mode, fields=children)
    return SchemaField(field.name, _arrow_type_name(kind), mode=mode)


def _arrow_type_name(kind: Any) -> str:
    import pyarrow as pa

    checks = (
        (pa.types.is_boolean, "BOOLEAN"),
        (pa.types.is_integer, "INTEGER"),
        (pa.types.is_floating, "FLOAT"),
        (pa.types.is_date, "DATE"),
        (pa.types.is_time, "TIME"),
        (pa.types.is_binary, "BYTES"),
        (pa.types.is_large_binary, "BYTES"),
        (pa.types.is_decimal, "NUMERIC"),
    )
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP" if kind.tz else "DATETIME"
    for check, name in checks:
        if check(kind):
            return name
    return "STRING"


def schema_from_arrow(schema: Any) -> list[Any]:
    """BigQuery ``SchemaField``s for an Arrow schema (what a Parquet load of it needs).

    >>> import pyarrow as pa
    >>> s = pa.schema([("PatientID", pa.string()),
    ...                ("ImageType", pa.list_(pa.string())),
    ...                ("PatientName", pa.struct([("Alphabetic", pa.string())]))])
    >>> [(f.name, f.field_type, f.mode) for f in schema_from_arrow(s)]
    [('PatientID', 'STRING', 'NULLABLE'), ('ImageType', 'STRING', 'REPEATED'),
     ('PatientName', 'RECORD', 'NULLABLE')]
    """
    return [_field_from_arrow(field) for field in schema]
