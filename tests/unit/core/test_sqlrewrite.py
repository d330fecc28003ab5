"""BigQuery SQL written for a project's tables, translated for DuckDB (sqlrewrite, sqlscript).

Each translation is run on an in-memory DuckDB table so the answer, not only
the text, is checked against what BigQuery returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
import sqlglot

from dicomlab.core.queries import for_bigquery, translate, translate_script
from dicomlab.core.sqlrewrite import expand_legacy_tables
from dicomlab.errors import QueryError

TYPES = {"Modality": "VARCHAR", "ImageType": "VARCHAR[]", "SliceThickness": "VARCHAR"}


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE dicom_metadata AS SELECT * FROM (VALUES "
        "('CT', ['ORIGINAL', 'PRIMARY', 'AXIAL'], '1.25'), ('MR', ['DERIVED'], '5')) "
        "AS t(Modality, ImageType, SliceThickness)"
    )
    yield connection
    connection.close()


def run(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> tuple[list[str], list[Any]]:
    """Run a BigQuery query or script as dicomlab translates it: (column names, rows)."""
    script = translate_script(sql, table="dicom_metadata", column_types=TYPES)
    for statement in script.setup:
        con.execute(statement.sql, {k: v for k, v in params.items() if k in statement.parameters})
    bound = {k: v for k, v in params.items() if k in script.query.parameters}
    cursor = con.execute(script.query.sql, bound)
    return [d[0] for d in cursor.description], cursor.fetchall()


# ---- 1. qualified table names --------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "`my-project.imaging.dicom_metadata`",
        "`my-project`.imaging.dicom_metadata",
        "imaging.dicom_metadata",
        "[my-project:imaging.dicom_metadata]",
        "[imaging.dicom_metadata]",
        "[example.com:my-project:imaging.dicom_metadata]",
    ],
)
def test_qualified_names_read_the_local_table_of_that_name(con, name) -> None:
    assert run(con, f"SELECT COUNT(*) AS n FROM {name}") == (["n"], [(2,)])


def test_a_qualified_name_is_logged_once(con, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="dicomlab.core.sqlrewrite"):
        for _ in range(2):
            run(con, "SELECT COUNT(*) FROM `once-project.once.dicom_metadata`")
    warned = [r for r in caplog.records if "once-project.once.dicom_metadata" in r.message]
    assert len(warned) == 1 and "local table 'dicom_metadata'" in warned[0].message


def test_the_legacy_form_is_expanded_only_after_from_or_join() -> None:
    sql = "SELECT '[a:b.c]', [1, 2] FROM [p-1:d.t] JOIN [d.u] USING (x) -- FROM [q:r.s]"
    assert expand_legacy_tables(sql) == (
        "SELECT '[a:b.c]', [1, 2] FROM `p-1.d.t` JOIN `d.u` USING (x) -- FROM [q:r.s]"
    )


def test_the_seed_pages_filter_file_query_runs(con) -> None:
    con.execute(
        "CREATE TABLE t AS SELECT '1.2' AS StudyInstanceUID, '1.3' AS SeriesInstanceUID, "
        "'1.4' AS SOPInstanceUID"
    )
    sql = (
        "SELECT CONCAT\n    ('/studies/', StudyInstanceUID, '/series/', SeriesInstanceUID, "
        "'/instances/', SOPInstanceUID)\nFROM\n    [PROJECT_ID:BIGQUERY_DATASET.t]"
    )
    assert run(con, sql) == (["f0_"], [("/studies/1.2/series/1.3/instances/1.4",)])


def test_bigquery_gets_qualified_names_and_scripts_untouched() -> None:
    script = (
        "DECLARE x FLOAT64 DEFAULT 0.01;\n-- a comment\nSELECT COUNT(*)\n"
        "FROM `my-project.imaging.dicom_metadata` WHERE RAND() < x"
    )
    assert for_bigquery(script, "other-project.ds.t") == script
    legacy = "SELECT 1 FROM [my-project:imaging.t]"
    assert for_bigquery(legacy, "other-project.ds.t") == "SELECT 1 FROM `my-project.imaging.t`"


def test_bigquery_gets_only_the_placeholder_replaced() -> None:
    sql = (
        "SELECT  d.PatientID\nFROM dicom_metadata d JOIN `dicom_metadata` ON TRUE -- dicom_metadata"
    )
    assert for_bigquery(sql, "my-proj.ds.t") == (
        "SELECT  d.PatientID\nFROM `my-proj.ds.t` d JOIN `my-proj.ds.t` AS dicom_metadata "
        "ON TRUE -- dicom_metadata"
    )


def test_sql_that_sqlglot_cannot_parse_goes_to_bigquery_as_written() -> None:
    sql = "FOR x IN (SELECT 1) DO SELECT x; END FOR"
    assert for_bigquery(sql, "my-proj.ds.t") == sql


# ---- 2. scripts ----------------------------------------------------------------------------


def test_a_declared_variable_is_read_by_the_query(con) -> None:
    sql = (
        "DECLARE threshold FLOAT64 DEFAULT 0.01;\n"
        "SELECT Modality FROM dicom_metadata "
        "WHERE SAFE_CAST(SliceThickness AS FLOAT64) > threshold * 200 ORDER BY Modality"
    )
    assert run(con, sql) == (["Modality"], [("MR",)])


def test_set_and_several_names_follow_bigquery(con) -> None:
    sql = (
        "DECLARE a, b INT64 DEFAULT 1; DECLARE s STRING;\n"
        "SET a = a + 1; SET (a, b) = (b, a); SET s = CONCAT('v', CAST(a AS STRING));\n"
        "SELECT a, b, s"
    )
    assert run(con, sql) == (["a", "b", "s"], [(1, 2, "v1")])


def test_a_declared_type_converts_the_default(con) -> None:
    _, rows = run(con, "DECLARE n INT64 DEFAULT 2.5; DECLARE f FLOAT64 DEFAULT 1; SELECT n, f")
    assert rows == [(3, 1.0)] and isinstance(rows[0][1], float)


def test_a_column_wins_over_a_variable_of_the_same_name(con) -> None:
    sql = (
        "DECLARE Modality STRING DEFAULT 'XA'; "
        "SELECT COUNT(*) AS n FROM dicom_metadata WHERE Modality = 'CT'"
    )
    assert run(con, sql) == (["n"], [(1,)])


def test_a_temporary_sql_function_casts_its_arguments_and_result(con) -> None:
    sql = (
        "CREATE TEMP FUNCTION half(x FLOAT64) RETURNS FLOAT64 AS (x / 2);\n"
        "CREATE TEMPORARY FUNCTION tag(m STRING) AS (CONCAT('<', m, '>'));\n"
        "SELECT half(3), tag(Modality) FROM dicom_metadata ORDER BY 2"
    )
    assert run(con, sql) == (["f0_", "f1_"], [(1.5, "<CT>"), (1.5, "<MR>")])


def test_a_function_parameter_hides_a_variable_of_the_same_name(con) -> None:
    sql = (
        "DECLARE x INT64 DEFAULT 100;\n"
        "CREATE TEMP FUNCTION plus_x(x INT64, y INT64) AS (x + y);\n"
        "CREATE TEMP FUNCTION plus_var(y INT64) AS (x + y);\n"
        "SELECT plus_x(1, 2) AS a, plus_var(2) AS b"
    )
    assert run(con, sql) == (["a", "b"], [(3, 102)])


def test_a_temporary_table_and_earlier_queries_run_before_the_last(con) -> None:
    sql = (
        "SELECT 1;\n"
        "CREATE TEMP TABLE ct AS SELECT * FROM dicom_metadata WHERE Modality = @m;\n"
        "SELECT COUNT(*) AS n FROM ct"
    )
    assert run(con, sql, m="CT") == (["n"], [(1,)])


def test_a_javascript_function_is_refused_by_name() -> None:
    sql = (
        'CREATE TEMP FUNCTION twice(x FLOAT64) RETURNS FLOAT64 LANGUAGE js AS r"""return 2*x;""";\n'
        "SELECT twice(1)"
    )
    with pytest.raises(QueryError, match=r"twice has a js body.*SQL function"):
        translate_script(sql, table="dicom_metadata")


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("DELETE FROM dicom_metadata WHERE TRUE; SELECT 1", "DELETE FROM dicom_metadata"),
        ("CREATE TABLE keep AS SELECT 1 AS a; SELECT 1", "CREATE TABLE keep"),
        ("INSERT INTO dicom_metadata (Modality) VALUES ('X'); SELECT 1", "INSERT INTO"),
        ("CREATE FUNCTION f(x INT64) AS (x); SELECT 1", "CREATE FUNCTION f"),
    ],
)
def test_statements_that_change_the_warehouse_are_refused(sql, named) -> None:
    with pytest.raises(QueryError, match="statement 1") as info:
        translate_script(sql, table="dicom_metadata")
    assert named in str(info.value) and "never changes the warehouse" in str(info.value)


def test_a_script_must_end_with_a_query() -> None:
    with pytest.raises(QueryError, match=r"last statement \(SET x = 2\) returns no rows"):
        translate_script("DECLARE x INT64; SET x = 2", table="dicom_metadata")


def test_setting_an_undeclared_variable_is_refused() -> None:
    with pytest.raises(QueryError, match="'y', which no DECLARE"):
        translate_script("SET y = 2; SELECT 1", table="dicom_metadata")


def test_a_single_statement_translation_names_the_script_form() -> None:
    with pytest.raises(QueryError, match=r"found 2; a script of several runs with lab\.sql"):
        translate("DECLARE x INT64 DEFAULT 1; SELECT x", table="t")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT e, i FROM dicom_metadata, UNNEST(ImageType) e WITH OFFSET i WHERE Modality = 'CT'",
        "SELECT e, i FROM dicom_metadata CROSS JOIN UNNEST(ImageType) AS e WITH OFFSET AS i "
        "WHERE Modality = 'CT'",
        "SELECT e, i FROM dicom_metadata LEFT JOIN UNNEST(ImageType) e WITH OFFSET i ON TRUE "
        "WHERE Modality = 'CT'",
    ],
)
def test_unnest_with_offset_counts_from_zero(con, sql) -> None:
    names, rows = run(con, sql + " ORDER BY i")
    assert names == ["e", "i"]
    assert rows == [("ORIGINAL", 0), ("PRIMARY", 1), ("AXIAL", 2)]


def test_an_offset_without_a_name_is_called_offset(con) -> None:
    assert run(con, "SELECT x, offset FROM UNNEST(['a', 'b']) AS x WITH OFFSET ORDER BY 2") == (
        ["x", "offset"],
        [("a", 0), ("b", 1)],
    )


# ---- 3. INFORMATION_SCHEMA (views filled by the warehouse) ---------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "`p.d`.INFORMATION_SCHEMA.COLUMNS",
        "`p.d.INFORMATION_SCHEMA.COLUMNS`",
        "d.INFORMATION_SCHEMA.COLUMNS",
        "INFORMATION_SCHEMA.COLUMNS",
    ],
)
def test_information_schema_columns_is_pointed_at_the_warehouse_view(name) -> None:
    script = translate_script(f"SELECT column_name FROM {name} WHERE table_name = 't'")
    assert script.views == {"COLUMNS"}
    assert 'FROM "__dicomlab_bq_columns" AS "COLUMNS"' in script.query.sql


def test_other_information_schema_views_are_refused_by_name() -> None:
    with pytest.raises(QueryError, match=r"COLUMN_FIELD_PATHS is not available"):
        translate_script("SELECT * FROM `p.d`.INFORMATION_SCHEMA.COLUMN_FIELD_PATHS")


# ---- 4. unnamed columns --------------------------------------------------------------------


def test_unnamed_columns_are_f0_f1_as_in_bigquery(con) -> None:
    sql = (
        "SELECT CONCAT('/studies/', Modality), Modality, COUNT(*) OVER (), ImageType[OFFSET(0)] "
        "FROM dicom_metadata WHERE Modality = 'CT'"
    )
    names, rows = run(con, sql)
    assert names == ["f0_", "Modality", "f1_", "f2_"]
    assert rows == [("/studies/CT", "CT", 1, "ORIGINAL")]


def test_a_field_access_is_named_by_its_field(con) -> None:
    con.execute("CREATE TABLE p AS SELECT {'Alphabetic': {'FamilyName': 'Doe'}} AS PatientName")
    assert run(con, "SELECT PatientName.Alphabetic.FamilyName FROM p") == (
        ["FamilyName"],
        [("Doe",)],
    )


def test_canned_queries_keep_their_own_names() -> None:
    tree = sqlglot.parse_one(translate("SELECT 1 AS one, 2 FROM dicom_metadata"), read="duckdb")
    assert [e.alias_or_name for e in tree.expressions] == ["one", "f0_"]
