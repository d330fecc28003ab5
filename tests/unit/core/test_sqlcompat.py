"""BigQuery SQL translated to DuckDB gives BigQuery's documented answer, or a
QueryError naming the function: never a different answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from dicomlab.core.queries import translate
from dicomlab.errors import QueryError
from dicomlab.warehouses.duckdb import DuckDBWarehouse


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(":memory:")


def run(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    return [row[0] for row in con.sql(translate(sql)).fetchall()]


# (BigQuery SQL, the result BigQuery's reference documents for it)
SAME_ANSWER = [
    # FORMAT is printf-style in BigQuery; DuckDB's format() would return the pattern.
    ("SELECT FORMAT('%05d', 42)", "00042"),
    ("SELECT FORMAT('%d', 10)", "10"),
    ("SELECT FORMAT('>%12d<', 11)", ">          11<"),
    ("SELECT FORMAT('>%-12d<', 13)", ">13          <"),
    ("SELECT FORMAT('%+d', 4)", "+4"),
    ("SELECT FORMAT('%i', 7)", "7"),
    ("SELECT FORMAT('%x|%X|%o|%#x', 255, 255, 8, 255)", "ff|FF|10|0xff"),
    ("SELECT FORMAT('%.3f', 15.0)", "15.000"),
    ("SELECT FORMAT('%f', 1.5)", "1.500000"),
    ("SELECT FORMAT('%e|%E', 1.5, 1.5)", "1.500000e+00|1.500000E+00"),
    ("SELECT FORMAT('%g', 1.5)", "1.5"),
    ("SELECT FORMAT('%s-%s', 'a', 'b')", "a-b"),
    ("SELECT FORMAT('%5s|', 'ab')", "   ab|"),
    ("SELECT FORMAT('100%%')", "100%"),
    ("SELECT FORMAT('%s', CAST(NULL AS STRING))", None),
    # CAST(STRING AS INT64): integers, hexadecimal included; anything else is an error.
    ("SELECT CAST('42' AS INT64)", 42),
    ("SELECT CAST('-7' AS INT64)", -7),
    ("SELECT CAST('0x1F' AS INT64)", 31),
    # CAST(FLOAT64 AS INT64) rounds halfway cases away from zero.
    ("SELECT CAST(CAST(2.5 AS FLOAT64) AS INT64)", 3),
    ("SELECT CAST(CAST(-2.5 AS FLOAT64) AS INT64)", -3),
    ("SELECT CAST(CAST(0.5 AS FLOAT64) AS INT64)", 1),
    ("SELECT CAST(CAST(1.4999999999999998 AS FLOAT64) AS INT64)", 1),
    ("SELECT CAST(CAST(2.5 AS NUMERIC) AS INT64)", 3),
    ("SELECT CAST(x AS INT64) FROM UNNEST([1.5, 2.5, -0.5]) AS x", [2, 3, -1]),
    # INTEGER is an alias of INT64, not a 32-bit integer.
    ("SELECT CAST(3000000000 AS INTEGER)", 3000000000),
    ("SELECT CAST(CAST('3000000000' AS STRING) AS SMALLINT)", 3000000000),
    # SAFE_CAST gives NULL where CAST would fail.
    ("SELECT SAFE_CAST('1.5' AS INT64)", None),
    ("SELECT SAFE_CAST('1e3' AS INT64)", None),
    ("SELECT SAFE_CAST('abc' AS INT64)", None),
    ("SELECT SAFE_CAST('12' AS INT64)", 12),
    ("SELECT SAFE_CAST(CAST(2.5 AS FLOAT64) AS INT64)", 3),
    ("SELECT SAFE_CAST(x AS INT64) FROM UNNEST(['7', '7.0', NULL]) AS x", [7, None, None]),
    # CAST(STRING AS BOOL) takes 'true' and 'false' in any case, nothing else.
    ("SELECT CAST('TRUE' AS BOOL)", True),
    ("SELECT CAST('false' AS BOOL)", False),
    ("SELECT SAFE_CAST('yes' AS BOOL)", None),
    ("SELECT SAFE_CAST('1' AS BOOL)", None),
    ("SELECT CAST(1 AS BOOL)", True),
    # NUMERIC has 38 digits, 9 after the point.
    ("SELECT CAST('1.23456789012' AS NUMERIC)", Decimal("1.234567890")),
    ("SELECT CAST('12345678901234567890.5' AS NUMERIC)", Decimal("12345678901234567890.5")),
    ("SELECT CAST(1.7 AS NUMERIC(10, 2))", Decimal("1.70")),
    # DAYOFWEEK is 1 (Sunday) to 7 (Saturday).
    ("SELECT EXTRACT(DAYOFWEEK FROM DATE '2020-01-05')", 1),
    ("SELECT EXTRACT(DAYOFWEEK FROM DATE '2020-01-04')", 7),
    # WEEK: Sunday-based, dates before the first Sunday are week 0; WEEK(MONDAY): Monday-based.
    ("SELECT EXTRACT(WEEK FROM DATE '2020-01-04')", 0),
    ("SELECT EXTRACT(WEEK FROM DATE '2020-01-05')", 1),
    ("SELECT EXTRACT(WEEK(MONDAY) FROM DATE '2020-01-05')", 0),
    ("SELECT EXTRACT(WEEK(MONDAY) FROM DATE '2020-01-06')", 1),
    ("SELECT EXTRACT(ISOWEEK FROM DATE '2021-01-01')", 53),
    # SUBSTR: position 0, or before the start, begins at the first character.
    ("SELECT SUBSTR('hello', 0, 2)", "he"),
    ("SELECT SUBSTR('hello', -10, 2)", "he"),
    ("SELECT SUBSTR('hello', -3)", "llo"),
    ("SELECT SUBSTR('hello', 2, 3)", "ell"),
    ("SELECT SUBSTR('hello', 0)", "hello"),
]


@pytest.mark.parametrize(("sql", "expected"), SAME_ANSWER, ids=[s for s, _ in SAME_ANSWER])
def test_duckdb_gives_bigquerys_documented_answer(con, sql, expected):
    result = run(con, sql)
    assert result == (expected if isinstance(expected, list) else [expected])


# (BigQuery SQL that BigQuery itself refuses, what the DuckDB error must quote)
BIGQUERY_ERRORS = [
    ("SELECT CAST('1.5' AS INT64)", "Bad int64 value: 1.5"),
    ("SELECT CAST('1e3' AS INT64)", "Bad int64 value: 1e3"),
    ("SELECT CAST('2.0' AS INT64)", "Bad int64 value: 2.0"),
    ("SELECT CAST(x AS INT64) FROM UNNEST(['1', 'x']) AS x", "Bad int64 value: x"),
    ("SELECT SUBSTR('hello', 2, -1)", "SUBSTR() cannot be negative"),
    ("SELECT CAST('yes' AS BOOL)", "Bad bool value: yes"),
    ("SELECT CAST('1' AS BOOL)", "Bad bool value: 1"),
]


@pytest.mark.parametrize(("sql", "shown"), BIGQUERY_ERRORS, ids=[s for s, _ in BIGQUERY_ERRORS])
def test_what_bigquery_refuses_fails_on_duckdb_too(con, sql, shown):
    with pytest.raises(duckdb.Error, match=shown.replace("(", r"\(").replace(")", r"\)")):
        run(con, sql)


# (BigQuery SQL with no faithful DuckDB translation, what the QueryError must name)
UNTRANSLATABLE = [
    ("SELECT FORMAT('%t', 1.5)", "'%t'"),
    ("SELECT FORMAT('%T', 'a')", "'%T'"),
    ("SELECT FORMAT('%p', 1)", "'%p'"),
    ('SELECT FORMAT("%\'d", 1234567)', '"%\'d"'),
    ("SELECT FORMAT('%*d', 5, 1)", "'%*d'"),
    ("SELECT FORMAT(f, 1) FROM (SELECT '%d' AS f)", "FORMAT with the format f"),
    ("SELECT EXTRACT(WEEK(FRIDAY) FROM DATE '2020-01-05')", "WEEK(FRIDAY)"),
    ("SELECT CAST('1.5' AS BIGNUMERIC)", "BIGNUMERIC"),
]


@pytest.mark.parametrize(("sql", "named"), UNTRANSLATABLE, ids=[s for s, _ in UNTRANSLATABLE])
def test_untranslatable_sql_is_a_query_error_naming_it(sql, named):
    with pytest.raises(QueryError) as info:
        translate(sql)
    assert named in str(info.value)
    assert translate(sql, dialect="bigquery")  # BigQuery itself still gets the query


def test_lab_sql_reports_bigquerys_error_as_a_query_error():
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.load("t", pa.table({"InstanceNumber": ["1", "1.5"]}))
    with pytest.raises(QueryError, match=r"Bad int64 value: 1\.5"):
        warehouse.run_sql("SELECT CAST(InstanceNumber AS INT64) FROM dicom_metadata", {}, table="t")
    safe = warehouse.run_sql(
        "SELECT SAFE_CAST(InstanceNumber AS INT64) AS n FROM dicom_metadata", {}, table="t"
    )
    assert safe.n.tolist()[0] == 1 and safe.n.isna().tolist() == [False, True]


def test_casts_of_columns_of_known_types_keep_bigquerys_rules():
    """The DuckDB warehouse passes column types: the casts take their shorter forms."""
    warehouse = DuckDBWarehouse(":memory:")
    warehouse.load(
        "t",
        pa.table({"f": [2.5, -2.5, 0.5], "i": [1, 2, 3], "s": ["7", "x", "true"]}),
    )

    def one(sql: str) -> list[Any]:
        return warehouse.run_sql(sql, {}, table="t").iloc[:, 0].tolist()

    assert one("SELECT CAST(f AS INT64) FROM dicom_metadata") == [3, -3, 1]
    assert one("SELECT CAST(i AS INT64) FROM dicom_metadata") == [1, 2, 3]
    safe = warehouse.run_sql(
        "SELECT SAFE_CAST(s AS INT64) AS n, SAFE_CAST(s AS BOOL) AS b FROM dicom_metadata",
        {},
        table="t",
    )
    assert safe.n.isna().tolist() == [False, True, True] and safe.n[0] == 7
    assert safe.b.isna().tolist() == [True, True, False] and bool(safe.b[2]) is True
    with pytest.raises(QueryError, match="Bad int64 value: x"):
        one("SELECT CAST(s AS INT64) FROM dicom_metadata")
