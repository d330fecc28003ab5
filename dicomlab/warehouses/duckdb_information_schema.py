"""BigQuery's ``INFORMATION_SCHEMA.COLUMNS`` and ``TABLES`` on a DuckDB warehouse.

Google's and IDC's guides send users to ``INFORMATION_SCHEMA.COLUMNS`` first
("Introduction to INFORMATION_SCHEMA", COLUMNS view:
https://cloud.google.com/bigquery/docs/information-schema-columns). DuckDB has
an ``information_schema`` of its own, with DuckDB's type names (``VARCHAR``,
``STRUCT("A" VARCHAR)[]``); :mod:`dicomlab.core.sqlrewrite` points a query at the
views filled here instead, with BigQuery's columns and type strings:

=====================================  ==========================
DuckDB                                 BigQuery ``data_type``
=====================================  ==========================
VARCHAR                                STRING
BIGINT, INTEGER, SMALLINT, …           INT64
DOUBLE, FLOAT                          FLOAT64
BOOLEAN                                BOOL
DECIMAL(38, 9)                         NUMERIC
BLOB                                   BYTES
TIMESTAMP / TIMESTAMP WITH TIME ZONE   DATETIME / TIMESTAMP
T[]                                    ARRAY<T>
STRUCT(a T, …)                         STRUCT<a T, …>
=====================================  ==========================

An ARRAY column is ``is_nullable = 'NO'``, as BigQuery reports a REPEATED
field. The embedded warehouse has no project or dataset: ``table_catalog``
is the DuckDB database's name and ``table_schema`` is ``main``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

import duckdb
from duckdb.sqltypes import DuckDBPyType

from dicomlab.core.sqlrewrite import INFORMATION_SCHEMA_VIEWS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["bigquery_type", "fill_views"]

_SCALARS = {
    "varchar": "STRING",
    "bigint": "INT64",
    "integer": "INT64",
    "smallint": "INT64",
    "tinyint": "INT64",
    "hugeint": "INT64",
    "ubigint": "INT64",
    "uinteger": "INT64",
    "usmallint": "INT64",
    "utinyint": "INT64",
    "double": "FLOAT64",
    "float": "FLOAT64",
    "boolean": "BOOL",
    "date": "DATE",
    "time": "TIME",
    "timestamp": "DATETIME",
    "timestamp with time zone": "TIMESTAMP",
    "blob": "BYTES",
    "json": "JSON",
}


def bigquery_type(kind: DuckDBPyType) -> str:
    """BigQuery's type string for a DuckDB type (``ARRAY<STRUCT<A STRING>>``).

    >>> bigquery_type(duckdb.sqltype('STRUCT("Id" VARCHAR, "Value" BIGINT[])[]'))
    'ARRAY<STRUCT<Id STRING, Value ARRAY<INT64>>>'
    """
    children = dict(kind.children) if kind.id in _NESTED else {}
    types = {name: sub for name, sub in children.items() if isinstance(sub, DuckDBPyType)}
    if kind.id == "list":
        return f"ARRAY<{bigquery_type(types['child'])}>"
    if kind.id == "struct":
        inner = ", ".join(f"{name} {bigquery_type(sub)}" for name, sub in types.items())
        return f"STRUCT<{inner}>"
    if kind.id == "decimal":
        precision, scale = children["precision"], children["scale"]
        return "NUMERIC" if (precision, scale) == (38, 9) else f"NUMERIC({precision}, {scale})"
    return _SCALARS.get(kind.id, str(kind).upper())


_NESTED = ("list", "struct", "decimal")


def _columns(con: duckdb.DuckDBPyConnection, tables: Iterable[str], catalog: str) -> pa.Table:
    import pyarrow as pa

    rows: dict[str, list[object]] = {
        k: [] for k in ("table_name", "column_name", "ordinal_position", "is_nullable", "data_type")
    }
    for table in tables:
        relation = con.table('"' + table.replace('"', '""') + '"')
        for position, (name, kind) in enumerate(
            zip(relation.columns, relation.dtypes, strict=True), start=1
        ):
            rows["table_name"].append(table)
            rows["column_name"].append(name)
            rows["ordinal_position"].append(position)
            rows["is_nullable"].append("NO" if kind.id == "list" else "YES")
            rows["data_type"].append(bigquery_type(kind))
    count = len(rows["table_name"])
    constant = {
        "is_generated": "NEVER",
        "is_hidden": "NO",
        "is_system_defined": "NO",
        "is_partitioning_column": "NO",
        "collation_name": "NULL",
        "column_default": "NULL",
    }
    return pa.table(
        {
            "table_catalog": [catalog] * count,
            "table_schema": ["main"] * count,
            **{k: rows[k] for k in ("table_name", "column_name", "ordinal_position")},
            "is_nullable": rows["is_nullable"],
            "data_type": rows["data_type"],
            **{k: [v] * count for k, v in constant.items()},
            "clustering_ordinal_position": pa.nulls(count, pa.int64()),
        }
    )


def _tables(tables: Collection[str], catalog: str) -> pa.Table:
    import pyarrow as pa

    count = len(tables)
    return pa.table(
        {
            "table_catalog": [catalog] * count,
            "table_schema": ["main"] * count,
            "table_name": list(tables),
            "table_type": ["BASE TABLE"] * count,
            "is_insertable_into": ["YES"] * count,
            "is_typed": ["NO"] * count,
            "creation_time": pa.nulls(count, pa.timestamp("us", tz="UTC")),
            "ddl": pa.nulls(count, pa.string()),
        }
    )


def fill_views(
    con: duckdb.DuckDBPyConnection, views: Collection[str], tables: Collection[str]
) -> None:
    """Create the temporary tables behind ``views`` (``"COLUMNS"``, ``"TABLES"``) on ``con``."""
    if not views:
        return
    rows = con.execute("SELECT current_database()").fetchall()  # fetched to the end
    catalog = str(rows[0][0]) if rows else "memory"
    for view in views:
        data = _columns(con, tables, catalog) if view == "COLUMNS" else _tables(tables, catalog)
        local = INFORMATION_SCHEMA_VIEWS[view]
        con.register("__dicomlab_view_rows", data)
        try:
            con.execute(
                f'CREATE OR REPLACE TEMP TABLE "{local}" AS SELECT * FROM __dicomlab_view_rows'
            )
        finally:
            con.unregister("__dicomlab_view_rows")
