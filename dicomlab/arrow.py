"""Flattened rows → an Arrow table with the exact metadata schema.

Arrow is the typed hand-over between the pure core and the warehouses: DuckDB
reads it as is (STRUCT and LIST columns included) and BigQuery loads it as
Parquet, so both hold the same shape.

>>> from dicomlab.schema import Column
>>> t = to_arrow_table([{"A": "x", "B": [1, 2]}], {"A": Column("A", "STRING"),
...                    "B": Column("B", "INTEGER", "REPEATED")})
>>> t.schema.field("B").type
ListType(list<item: int64>)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from dicomlab.schema import PN_COMPONENTS, PN_GROUPS, Column

__all__ = ["ARROW_TYPES", "arrow_field", "to_arrow_table"]

_PN_GROUP_TYPE = pa.struct([pa.field(name, pa.string()) for name in PN_COMPONENTS])
ARROW_TYPES: Mapping[str, pa.DataType] = {
    "STRING": pa.string(),
    "DATE": pa.date32(),
    "TIME": pa.time64("us"),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "FLOAT": pa.float64(),
    "INTEGER": pa.int64(),
    "RECORD": pa.struct([pa.field(group, _PN_GROUP_TYPE) for group in PN_GROUPS]),
}


def arrow_field(column: Column) -> pa.Field:
    """The Arrow field for a metadata column (REPEATED → list)."""
    kind = ARROW_TYPES[column.type]
    if column.mode == "REPEATED":
        return pa.field(column.name, pa.list_(kind))
    return pa.field(column.name, kind)


def to_arrow_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, Column]) -> pa.Table:
    """Build an Arrow table from rows already conformed to ``columns``."""
    schema = pa.schema([arrow_field(c) for c in columns.values()])
    arrays = [
        pa.array([row.get(name) for row in rows], type=schema.field(name).type) for name in columns
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
