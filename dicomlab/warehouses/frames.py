"""Query results as DataFrames with the same dtypes on every warehouse.

Both warehouses hand over an Arrow table (DuckDB's ``fetch_arrow_table``,
google-cloud-bigquery's ``RowIterator.to_arrow``) and this one function turns
it into pandas with google-cloud-bigquery's ``to_dataframe`` dtypes (SPEC §7):

=============  ===========================================
Arrow          pandas
=============  ===========================================
bool           ``boolean``
int*, uint*    ``Int64``
decimal(p, 0)  ``Int64`` (DuckDB's SUM of integers is HUGEINT)
float*         ``float64``
string         ``object`` (``str`` values)
date32/64      ``dbdate`` (db-dtypes)
time32/64      ``dbtime`` (db-dtypes)
timestamp      ``datetime64[ns]``, ``[ns, UTC]`` with a time zone
list, struct   ``object`` (arrays and dicts)
=============  ===========================================

A NULL array, at any depth, comes back empty: "GoogleSQL translates a NULL
ARRAY into an empty ARRAY in the query result" (BigQuery's data types, "NULLs
and the ARRAY type":
https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#array_nulls),
and a REPEATED column stores no NULL. DuckDB keeps NULL lists, for instance in
rows loaded before a list column was added, so both warehouses agree only
once they are emptied here.

>>> import datetime as dt, pyarrow as pa
>>> df = to_frame(pa.table({"n": [1, None], "d": [dt.date(2001, 1, 2), None]}))
>>> df.dtypes.astype(str).to_dict()
{'n': 'Int64', 'd': 'dbdate'}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["to_frame"]


def _normalise(table: pa.Table) -> pa.Table:
    """Integer-valued decimals become int64 (BigQuery's INT64), large strings plain strings."""
    import pyarrow as pa

    fields = []
    for column in table.schema:
        kind = column.type
        if pa.types.is_decimal(kind) and kind.scale == 0:
            kind = pa.int64()
        elif pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        fields.append(pa.field(column.name, kind))
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)


def _has_list(kind: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return True
    return pa.types.is_struct(kind) and any(_has_list(f.type) for f in kind)


def _empty_for_null(array: pa.Array) -> pa.Array:
    """``array`` with every NULL list (nested ones too) replaced by an empty list."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        filled = pc.fill_null(array, pa.scalar([], type=kind)) if array.null_count else array
        if not _has_list(kind.value_type):
            return filled
        values = _empty_for_null(filled.values)
        builder = pa.ListArray if pa.types.is_list(kind) else pa.LargeListArray
        return builder.from_arrays(filled.offsets, values, type=kind)
    if pa.types.is_struct(kind) and _has_list(kind):
        children = [_empty_for_null(child) for child in array.flatten()]
        mask = array.is_null() if array.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(kind), mask=mask)
    return array


def _no_null_arrays(table: pa.Table) -> pa.Table:
    """Empty lists for NULL ones, as BigQuery returns them (see the module)."""
    import pyarrow as pa

    for index, column in enumerate(table.schema):
        if _has_list(column.type):
            chunks = [_empty_for_null(chunk) for chunk in table.column(index).chunks]
            table = table.set_column(index, column, pa.chunked_array(chunks, type=column.type))
    return table


def _dtype(kind: pa.DataType) -> Any:
    import db_dtypes
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_boolean(kind):
        return pd.BooleanDtype()
    if pa.types.is_integer(kind):
        return pd.Int64Dtype()
    if pa.types.is_date(kind):
        return db_dtypes.DateDtype()
    if pa.types.is_time(kind):
        return db_dtypes.TimeDtype()
    return None


def to_frame(table: pa.Table) -> pd.DataFrame:
    """``table`` as a DataFrame with BigQuery's ``to_dataframe`` dtypes (see the module)."""
    import pyarrow as pa

    table = _no_null_arrays(_normalise(table))
    frame: pd.DataFrame = table.to_pandas(types_mapper=_dtype)
    for column in table.schema:
        if pa.types.is_string(column.type):
            frame[column.name] = frame[column.name].astype(object)
        elif pa.types.is_timestamp(column.type):
            unit = "datetime64[ns, UTC]" if column.type.tz else "datetime64[ns]"
            frame[column.name] = frame[column.name].astype(unit)
    return frame
