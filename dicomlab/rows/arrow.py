"""Flattened rows → an Arrow table with the exact metadata schema.

Arrow is the typed hand-over between the pure core and the warehouses: DuckDB
reads it as is (STRUCT and LIST columns included) and BigQuery loads it as
Parquet, so both hold the same shape.

>>> from dicomlab.rows.schema import Column
>>> t = to_arrow_table([{"A": "x", "B": [1, 2]}], {"A": Column("A", "STRING"),
...                    "B": Column("B", "INTEGER", "REPEATED")})
>>> t.schema.field("B").type
ListType(list<item: int64>)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from dicomlab.rows.schema import Column

__all__ = ["ARROW_TYPES", "arrow_field", "arrow_schema", "to_arrow_table"]

ARROW_TYPES: Mapping[str, pa.DataType] = {
    "STRING": pa.string(),
    "DATE": pa.date32(),
    "TIME": pa.time64("us"),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "FLOAT": pa.float64(),
    "INTEGER": pa.int64(),
}


def arrow_field(column: Column) -> pa.Field:
    """The Arrow field for a column: RECORD → struct (recursively), REPEATED → list.

    >>> arrow_field(Column("S", "RECORD", "REPEATED", (Column("X", "DATE"),))).type
    ListType(list<item: struct<X: date32[day]>>)
    """
    if column.type == "RECORD":
        kind: pa.DataType = pa.struct([arrow_field(f) for f in column.fields])
    else:
        kind = ARROW_TYPES[column.type]
    return pa.field(column.name, pa.list_(kind) if column.repeated else kind)


def arrow_schema(columns: Mapping[str, Column]) -> pa.Schema:
    """The Arrow schema of a table with these columns."""
    return pa.schema([arrow_field(c) for c in columns.values()])


def to_arrow_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, Column]) -> pa.Table:
    """Build an Arrow table from rows already conformed to ``columns``.

    A row may lack a column: its value is then what :func:`~dicomlab.rows.schema.conform`
    gives a missing value, null (an empty list in a REPEATED column).
    """
    schema = arrow_schema(columns)
    arrays = [
        pa.array(
            [row.get(name) or [] for row in rows]
            if column.repeated
            else [row.get(name) for row in rows],
            type=schema.field(name).type,
        )
        for name, column in columns.items()
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
