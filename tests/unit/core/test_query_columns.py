"""Each canned query's columns, read from its SQL, are the ones DuckDB returns for it."""

from __future__ import annotations

import datetime

import pytest

from dicomlab.core.queries import canned_columns, list_queries, load_query, parse_query

# A value of each parameter type; the rows may be few or none, the columns are what counts.
_VALUES = {
    "STRING": "77654033",
    "INT64": 3,
    "DATE": datetime.date(1900, 1, 1),
    "ARRAY<STRING>": [],
}


@pytest.mark.parametrize("name", list_queries())
def test_derived_columns_are_what_duckdb_returns(exported_lab, name):
    query = load_query(name)
    params = {p.name: _VALUES[p.type] for p in query.parameters}
    if query.columns is None:  # SELECT *: the columns of a streamed table, which this is not
        assert name == "current_state"
        return
    assert query.columns == tuple(exported_lab.query(name, **params).columns)


def test_every_query_but_the_star_one_names_its_columns():
    assert set(list_queries()) - set(canned_columns()) == {"current_state"}
    assert canned_columns()["filter_file_paths"] == ("path",)


@pytest.mark.parametrize(
    ("select", "columns"),
    [
        ("SELECT a, b AS c FROM dicom_metadata", ("a", "c")),
        ("SELECT a, COUNT(*), MAX(b) FROM dicom_metadata GROUP BY a", ("a", "f0_", "f1_")),
        ("WITH x AS (SELECT 1 AS q) SELECT q AS r FROM x", ("r",)),
        ("SELECT a AS z FROM t UNION ALL SELECT b FROM u", ("z",)),
        ("SELECT * FROM dicom_metadata", None),
        ("SELECT t.*, 1 AS one FROM dicom_metadata AS t", None),
        ("SELECT * EXCEPT (a) FROM dicom_metadata", None),
    ],
)
def test_columns_come_from_the_final_select(select, columns):
    query = parse_query(f"-- name: q\n-- description: A test.\n{select}")
    assert query.columns == columns
