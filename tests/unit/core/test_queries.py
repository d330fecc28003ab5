"""Canned queries: header parsing, parameter binding, table swapping, and every
query run on an in-memory DuckDB against results worked out here in Python."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot

from dicomlab.core.queries import (
    CannedQuery,
    list_queries,
    load_query,
    parse_query,
    queries_dir,
    translate,
)
from dicomlab.core.resources import BigQueryTable
from dicomlab.errors import InvalidIdentifierError, QueryError

TABLE = "dicom_metadata"
EXPECTED_QUERIES = {
    "current_state": "no parameters",
    "filter_file_paths": "study_uids ARRAY<STRING>",
    "latest_studies": "limit INT64",
    "patient_dicomweb_paths": "patient_id STRING",
    "series_per_patient": "no parameters",
    "studies_by_modality": "modality STRING, start_date DATE, end_date DATE",
}

COLUMNS = (
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "Modality",
)
Row = tuple[Any, ...]
D, T = dt.date, dt.time
# Study UIDs chosen so that string order differs from numeric order (…840.10 < …840.9).
ROWS = [
    ("P001", "1.2.840.9", "1.2.840.9.1", "1.2.840.9.1.1", D(1998, 9, 24), T(7, 59, 11), "CT"),
    ("P001", "1.2.840.9", "1.2.840.9.1", "1.2.840.9.1.2", D(1998, 9, 24), T(7, 59, 11), "CT"),
    ("P001", "1.2.840.9", "1.2.840.9.2", "1.2.840.9.2.1", D(1998, 9, 24), T(8, 5, 0), "SR"),
    (
        "P001",
        "1.2.840.10",
        "1.2.840.10.1",
        "1.2.840.10.1.1",
        D(2001, 3, 5),
        T(12, 0, 0, 500000),
        "MR",
    ),
    (
        "P001",
        "1.2.840.10",
        "1.2.840.10.1",
        "1.2.840.10.1.2",
        D(2001, 3, 5),
        T(12, 0, 0, 500000),
        "MR",
    ),
    ("P002", "1.2.840.11", "1.2.840.11.1", "1.2.840.11.1.1", D(2001, 3, 5), None, "CT"),
    ("P002", "1.2.840.11", "1.2.840.11.1", "1.2.840.11.1.2", D(2001, 3, 5), None, "CT"),
    (
        "P002",
        "1.2.840.12",
        "1.2.840.12.1",
        "1.2.840.12.1.1",
        D(1999, 1, 1),
        T(23, 59, 59, 123456),
        "CT",
    ),
    (
        "P002",
        "1.2.840.12",
        "1.2.840.12.2",
        "1.2.840.12.2.1",
        D(1999, 1, 1),
        T(23, 59, 59, 123456),
        "MR",
    ),
    ("P003", "1.2.840.13", "1.2.840.13.1", "1.2.840.13.1.1", D(2000, 6, 15), T(8, 0, 0), "CT"),
    ("P003", "1.2.840.13", "1.2.840.13.1", "1.2.840.13.1.2", D(2000, 6, 15), T(8, 0, 0), "CT"),
    ("P003", "1.2.840.14", "1.2.840.14.1", "1.2.840.14.1.1", D(2000, 6, 16), T(9, 30, 0), "US"),
    (
        None,
        "1.2.840.15",
        "1.2.840.15.1",
        "1.2.840.15.1.1",
        D(2002, 2, 2),
        T(10, 0, 0, 250000),
        "OT",
    ),
]
SCHEMA = """(PatientID VARCHAR, StudyInstanceUID VARCHAR, SeriesInstanceUID VARCHAR,
    SOPInstanceUID VARCHAR, StudyDate DATE, StudyTime TIME, Modality VARCHAR)"""


@pytest.fixture
def con() -> Iterable[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute(f"CREATE TABLE dicom_metadata {SCHEMA}")
    connection.executemany("INSERT INTO dicom_metadata VALUES (?, ?, ?, ?, ?, ?, ?)", ROWS)
    yield connection
    connection.close()


def run(
    con: duckdb.DuckDBPyConnection, name: str, table: str = "dicom_metadata", **params: object
) -> tuple[list[str], list[Row]]:
    query = load_query(name)
    cursor = con.execute(query.to_duckdb(table), query.bind(params))
    rows = cursor.fetchall()
    return [d[0] for d in cursor.description], rows


def bigquery_text(value: dt.date | dt.time | None) -> str | None:
    """How BigQuery's CAST(... AS STRING) prints a DATE or TIME: 0, 3 or 6 fraction digits."""
    if value is None or isinstance(value, dt.date):
        return None if value is None else f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    whole = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if value.microsecond == 0:
        return whole
    if value.microsecond % 1000 == 0:
        return f"{whole}.{value.microsecond // 1000:03d}"
    return f"{whole}.{value.microsecond:06d}"


def by_study() -> dict[str, list[Row]]:
    studies: dict[str, list[Row]] = defaultdict(list)
    for row in ROWS:
        studies[row[1]].append(row)
    return studies


def least(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


# -- the files ---------------------------------------------------------------------------


def test_the_canned_queries_are_all_there_with_their_parameters() -> None:
    assert list_queries() == sorted(EXPECTED_QUERIES)
    assert {name: load_query(name).signature for name in list_queries()} == EXPECTED_QUERIES


@pytest.mark.parametrize("name", sorted(EXPECTED_QUERIES))
def test_each_file_has_the_header_and_parses_as_bigquery(name: str) -> None:
    path = queries_dir() / f"{name}.sql"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == f"-- name: {name}"
    assert lines[1].startswith("-- description: ") and len(lines[1]) > 20
    tree = sqlglot.parse_one(text, read="bigquery")
    assert TABLE in {t.name for t in tree.find_all(sqlglot.exp.Table)}
    query = load_query(name)
    assert query.path == path and query.sql == text and query.description in lines[1]
    assert all(p.description for p in query.parameters)
    for p in query.parameters:
        assert f"@{p.name}" in text


def test_queries_dir_is_the_repository_folder_in_a_checkout() -> None:
    assert queries_dir() == Path(__file__).resolve().parents[3] / "queries"


def test_load_query_is_cached() -> None:
    assert load_query("latest_studies") is load_query("latest_studies")


# -- header parsing ----------------------------------------------------------------------

GOOD = """-- name: by_patient
-- description: Rows of some patients.
-- param: ids ARRAY<STRING> The PatientIDs.
-- param: since date First StudyDate.
-- note: a remark that is not parsed
SELECT * FROM dicom_metadata WHERE PatientID IN UNNEST(@ids) AND StudyDate >= @since
"""


def test_parse_query_reads_the_header() -> None:
    query = parse_query(GOOD, "by_patient.sql")
    assert (query.name, query.description) == ("by_patient", "Rows of some patients.")
    assert [(p.name, p.type, p.description) for p in query.parameters] == [
        ("ids", "ARRAY<STRING>", "The PatientIDs."),
        ("since", "DATE", "First StudyDate."),
    ]
    assert query.signature == "ids ARRAY<STRING>, since DATE"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("-- description: Rows of some patients.\n", ""), "no '-- description:'"),
        (GOOD.replace("ARRAY<STRING>", "LIST<STRING>"), "unknown type 'LIST<STRING>'"),
        (GOOD.replace("-- note:", "-- remark:"), "line 5"),
        (GOOD.replace("-- param: since date First StudyDate.", "-- param: since DATE"), "line 4"),
        (GOOD.replace("-- note: a remark that is not parsed", "-- name: again"), "line 5"),
        (GOOD.replace("-- name: by_patient", "-- name: ByPatient"), "'ByPatient'"),
        (GOOD.replace(" AND StudyDate >= @since", ""), "['ids', 'since'] but the SQL uses ['ids']"),
        (GOOD.replace("@since", "@since AND Modality = @m"), "uses ['ids', 'm', 'since']"),
        (GOOD + "; SELECT 2", "one SQL statement, found 2"),
        (GOOD.replace("WHERE", "WHERE ((("), "does not parse as BigQuery"),
    ],
)
def test_parse_query_rejects_bad_files(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        parse_query(text, "by_patient.sql")


def test_the_name_must_match_the_file() -> None:
    with pytest.raises(QueryError, match="'by_patient' must be snake_case and match the file"):
        parse_query(GOOD, Path("queries/other.sql"))


@pytest.mark.parametrize("sql", ["SELECT (1 FROM dicom_metadata", "SELEC 1"])
def test_a_sqlglot_parse_error_keeps_its_message_without_terminal_escapes(sql: str) -> None:
    with pytest.raises(QueryError) as info:
        translate(sql)
    assert isinstance(info.value.__cause__, sqlglot.errors.SqlglotError)
    assert "\x1b" not in str(info.value)  # sqlglot underlines the token for terminals
    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(info.value.__cause__))
    assert plain in str(info.value)


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../pyproject", "latest_studies.sql", "Latest", "", "a/b", "latest studies", 3]
)
def test_load_query_rejects_names_that_are_not_identifiers(name: object) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        load_query(name)  # type: ignore[arg-type]
    assert info.value.value == name


def test_an_unknown_query_lists_the_available_ones() -> None:
    with pytest.raises(QueryError, match="no canned query 'latest_study'") as info:
        load_query("latest_study")
    assert all(name in str(info.value) for name in EXPECTED_QUERIES)


# -- binding -----------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"limit": 5, "offset": 2}, {"lmit": 5}])
def test_bind_lists_what_the_query_takes(params: dict[str, object]) -> None:
    with pytest.raises(QueryError, match=r"query 'latest_studies' takes limit INT64 \("):
        load_query("latest_studies").bind(params)


def test_bind_names_unknown_and_missing_parameters() -> None:
    query = load_query("studies_by_modality")
    with pytest.raises(QueryError) as info:
        query.bind({"modality": "CT", "start": "2000-01-01"})
    assert str(info.value) == (
        "query 'studies_by_modality' takes modality STRING, start_date DATE, end_date DATE "
        "(unknown: start; missing: start_date, end_date)"
    )
    with pytest.raises(QueryError, match="takes no parameters"):
        load_query("series_per_patient").bind({"limit": 1})
    assert load_query("series_per_patient").bind({}) == {}


def test_bind_coerces_values_to_what_the_engines_bind() -> None:
    query = parse_query("""-- name: many
-- description: Every type.
-- param: s STRING a
-- param: i INT64 b
-- param: f FLOAT64 c
-- param: b BOOL d
-- param: d DATE e
-- param: t TIME f
-- param: ts TIMESTAMP g
-- param: a ARRAY<INT64> h
SELECT @s, @i, @f, @b, @d, @t, @ts, @a""")
    bound = query.bind(
        {
            "s": "x",
            "i": np.int64(3),
            "f": 2,
            "b": np.bool_(True),
            "d": "1998-09-24",
            "t": "07:59:11.500",
            "ts": "2024-01-02 03:04:05+00:00",
            "a": np.array([1, 2]),
        }
    )
    assert bound == {
        "s": "x",
        "i": 3,
        "f": 2.0,
        "b": True,
        "d": dt.date(1998, 9, 24),
        "t": dt.time(7, 59, 11, 500000),
        "ts": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "a": [1, 2],
    }
    assert type(bound["i"]) is int and type(bound["f"]) is float and type(bound["b"]) is bool


@pytest.mark.parametrize(
    "uids",
    [
        ["1.2", "1.3"],
        ("1.2", "1.3"),
        pd.Series(["1.2", "1.3"]),
        np.array(["1.2", "1.3"]),
        pd.Index(["1.2", "1.3"]),
    ],
)
def test_array_parameters_take_any_sequence(uids: object) -> None:
    assert load_query("filter_file_paths").bind({"study_uids": uids}) == {
        "study_uids": ["1.2", "1.3"]
    }
    assert load_query("filter_file_paths").bind({"study_uids": {"1.2"}}) == {"study_uids": ["1.2"]}


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "latest_studies",
            {"limit": "20"},
            "'limit' is INT64: the value should be an int, not str",
        ),
        (
            "latest_studies",
            {"limit": True},
            "'limit' is INT64: the value should be an int, not bool",
        ),
        ("latest_studies", {"limit": 2.0}, "not float"),
        ("patient_dicomweb_paths", {"patient_id": 19045}, "'patient_id' is STRING: .* not int"),
        ("patient_dicomweb_paths", {"patient_id": None}, "not NoneType"),
        (
            "filter_file_paths",
            {"study_uids": "1.2.3"},
            "'study_uids' is ARRAY<STRING>: pass a list",
        ),
        ("filter_file_paths", {"study_uids": ["1.2", 5]}, "item 1 should be a str, not int 5"),
        ("filter_file_paths", {"study_uids": ["1.2", None]}, "item 1 .* not NoneType"),
    ],
)
def test_bind_rejects_values_of_the_wrong_type(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        load_query(name).bind(params)


@pytest.mark.parametrize(
    "day", ["24/09/1998", "2024-02-30", "1998-9-24", 19980924, dt.datetime(1998, 9, 24, 7, 0)]
)
def test_date_parameters_need_a_date_or_an_iso_date(day: object) -> None:
    params = {"modality": "CT", "start_date": day, "end_date": dt.date(2000, 1, 1)}
    with pytest.raises(QueryError, match=f"'start_date' is DATE: .*not {type(day).__name__}"):
        load_query("studies_by_modality").bind(params)


# -- table names -------------------------------------------------------------------------


def test_to_bigquery_qualifies_the_table_in_backticks_and_keeps_parameters() -> None:
    sql = load_query("patient_dicomweb_paths").to_bigquery("chc-nih-chest-xray.nih.xray")
    assert "FROM `chc-nih-chest-xray`.`nih`.`xray` AS dicom_metadata" in sql
    assert "PatientID = @patient_id" in sql
    tree = sqlglot.parse_one(sql, read="bigquery")
    assert [(t.catalog, t.db, t.name) for t in tree.find_all(sqlglot.exp.Table)] == [
        ("chc-nih-chest-xray", "nih", "xray")
    ]
    assert load_query("latest_studies").to_bigquery(BigQueryTable("my-proj", "d", "t")) == (
        load_query("latest_studies").to_bigquery("bq://my-proj.d.t")
    )
    assert "LIMIT @limit" in load_query("latest_studies").to_bigquery("my-proj.d.t")
    assert "IN UNNEST(@study_uids)" in load_query("filter_file_paths").to_bigquery("my-proj.d.t")


@pytest.mark.parametrize(
    "table",
    [
        "dicom_metadata",
        "ds.table",
        "my-proj.ds.t; DROP TABLE x",
        "my-proj.ds.t`",
        "my-proj.d s.t",
        "My_Proj.ds.t",
        None,
    ],
)
def test_to_bigquery_rejects_malformed_tables(table: object) -> None:
    with pytest.raises(InvalidIdentifierError):
        load_query("latest_studies").to_bigquery(table)  # type: ignore[arg-type]


@pytest.mark.parametrize("table", ['x"; DROP TABLE t; --', "a.b", "1abc", "", "my-table"])
def test_to_duckdb_rejects_malformed_tables(table: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        load_query("latest_studies").to_duckdb(table)


def test_translate_keeps_columns_qualified_by_the_old_name(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE cohort AS SELECT * FROM dicom_metadata WHERE PatientID = 'P003'")
    sql = translate(
        "SELECT dicom_metadata.SOPInstanceUID FROM dicom_metadata ORDER BY 1", table="cohort"
    )
    assert con.execute(sql).fetchall() == [(r[3],) for r in ROWS if r[0] == "P003"]


def test_translate_leaves_a_cte_named_like_the_table_alone() -> None:
    sql = "WITH dicom_metadata AS (SELECT 1 AS x) SELECT x FROM dicom_metadata"
    assert '"other"' not in translate(sql, table="other")


def test_translate_rejects_unknown_dialects() -> None:
    with pytest.raises(QueryError, match="unknown SQL dialect 'duckdbb'"):
        translate("SELECT 1", dialect="duckdbb")


# -- running on DuckDB -------------------------------------------------------------------


def test_patient_dicomweb_paths(con: duckdb.DuckDBPyConnection) -> None:
    columns, rows = run(con, "patient_dicomweb_paths", patient_id="P001")
    assert columns == ["DICOMwebPath", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
    mine = sorted(r[1:4] for r in ROWS if r[0] == "P001")
    assert rows == [
        (f"/dicomWeb/studies/{st}/series/{se}/instances/{sop}", st, se, sop) for st, se, sop in mine
    ]


def test_a_quote_in_a_value_stays_a_value(con: duckdb.DuckDBPyConnection) -> None:
    evil = "' OR '1'='1"
    query = load_query("patient_dicomweb_paths")
    assert query.bind({"patient_id": evil}) == {"patient_id": evil}
    assert evil not in query.to_duckdb() and "1'='1" not in query.to_bigquery("my-proj.d.t")
    assert run(con, "patient_dicomweb_paths", patient_id=evil)[1] == []
    con.execute(
        "INSERT INTO dicom_metadata VALUES (?, '9.9', '9.9.1', '9.9.1.1', NULL, NULL, 'CT')", [evil]
    )
    assert [r[3] for r in run(con, "patient_dicomweb_paths", patient_id=evil)[1]] == ["9.9.1.1"]


def expected_latest() -> list[Row]:
    result: list[Row] = []
    for uid, rows in by_study().items():
        texts = [
            None if r[4] is None or r[5] is None else f"{bigquery_text(r[4])} {bigquery_text(r[5])}"
            for r in rows
        ]
        result.append((least(texts), least(r[0] for r in rows), uid, len(rows)))
    dated = sorted((r for r in result if r[0] is not None), key=lambda r: r[2])
    dated.sort(key=lambda r: r[0], reverse=True)  # stable: UID order kept among ties
    return dated + sorted((r for r in result if r[0] is None), key=lambda r: r[2])


@pytest.mark.parametrize("limit", [3, 100])
def test_latest_studies(con: duckdb.DuckDBPyConnection, limit: int) -> None:
    columns, rows = run(con, "latest_studies", limit=limit)
    assert columns == ["StudyDateTime", "PatientID", "StudyInstanceUID", "InstanceCount"]
    assert rows == expected_latest()[:limit]


def test_latest_studies_prints_study_date_times_as_bigquery_does(
    con: duckdb.DuckDBPyConnection,
) -> None:
    shown = {uid: when for when, _, uid, _ in run(con, "latest_studies", limit=100)[1]}
    assert shown["1.2.840.9"] == "1998-09-24 07:59:11"
    assert shown["1.2.840.10"] == "2001-03-05 12:00:00.500"
    assert shown["1.2.840.12"] == "1999-01-01 23:59:59.123456"
    assert shown["1.2.840.11"] is None  # no StudyTime


def test_filter_file_paths(con: duckdb.DuckDBPyConnection) -> None:
    wanted = ["1.2.840.12", "1.2.840.9", "9.9.9"]
    columns, rows = run(con, "filter_file_paths", study_uids=wanted)
    assert columns == ["path"]
    assert rows == [
        (f"/studies/{r[1]}/series/{r[2]}/instances/{r[3]}",)
        for r in sorted(ROWS, key=lambda r: r[1:4])
        if r[1] in wanted
    ]
    assert run(con, "filter_file_paths", study_uids=[])[1] == []


def test_filter_file_paths_lists_each_instance_once(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("INSERT INTO dicom_metadata SELECT * FROM dicom_metadata")
    con.execute(
        "INSERT INTO dicom_metadata VALUES ('P9', '1.2.840.9', NULL, NULL, NULL, NULL, 'CT')"
    )
    rows = run(con, "filter_file_paths", study_uids=["1.2.840.9"])[1]
    assert len(rows) == sum(r[1] == "1.2.840.9" for r in ROWS)


@pytest.mark.parametrize(
    ("modality", "start", "end"),
    [
        ("CT", "1998-01-01", "2001-12-31"),
        ("MR", dt.date(1999, 1, 1), dt.date(2001, 3, 5)),
        ("CT", "2000-06-16", "2000-06-16"),
        ("XA", "1900-01-01", "2100-01-01"),
    ],
)
def test_studies_by_modality(
    con: duckdb.DuckDBPyConnection, modality: str, start: Any, end: Any
) -> None:
    first, last = (d if isinstance(d, dt.date) else dt.date.fromisoformat(d) for d in (start, end))
    expected = []
    for uid, rows in by_study().items():
        rows = [r for r in rows if first <= r[4] <= last]
        if any(r[6] == modality for r in rows):
            expected.append(
                (
                    least(r[0] for r in rows),
                    least(r[4] for r in rows),
                    uid,
                    len({r[2] for r in rows}),
                    len({r[2] for r in rows if r[6] == modality}),
                    len({r[3] for r in rows}),
                )
            )
    expected.sort(key=lambda r: (r[1], r[2]))
    columns, rows = run(
        con, "studies_by_modality", modality=modality, start_date=start, end_date=end
    )
    assert columns == [
        "PatientID",
        "StudyDate",
        "StudyInstanceUID",
        "SeriesCount",
        "ModalitySeriesCount",
        "InstanceCount",
    ]
    assert rows == expected


def test_series_per_patient(con: duckdb.DuckDBPyConnection) -> None:
    patients: dict[Any, list[Row]] = defaultdict(list)
    for row in ROWS:
        patients[row[0]].append(row)
    # BigQuery sorts NULL first in ascending order.
    order = [None, *sorted(p for p in patients if p is not None)]
    expected = [
        (
            p,
            len({r[1] for r in patients[p]}),
            len({r[2] for r in patients[p]}),
            len({r[3] for r in patients[p]}),
        )
        for p in order
    ]
    columns, rows = run(con, "series_per_patient")
    assert columns == ["PatientID", "StudyCount", "SeriesCount", "InstanceCount"]
    assert rows == expected


STREAMED = [  # SOPInstanceUID, Modality, Type, LastUpdated (hours after a base time)
    ("1.9.1", "CT", "CREATE", 1),  # kept
    ("1.9.2", "CT", "CREATE", 1),  # deleted
    ("1.9.2", "CT", "DELETE", 2),
    ("1.9.3", "CT", "CREATE", 1),  # deleted, then stored again as MR
    ("1.9.3", "CT", "DELETE", 2),
    ("1.9.3", "MR", "CREATE", 3),
    ("1.9.4", "US", None, None),  # from before deletion metadata: kept
    ("1.9.5", "US", None, None),  # old row, then deleted
    ("1.9.5", "US", "DELETE", 4),
    ("1.9.6", "US", None, None),  # old row, then replaced
    ("1.9.6", "SR", "CREATE", 5),
]


def test_current_state(con: duckdb.DuckDBPyConnection) -> None:
    base = dt.datetime(2024, 5, 1, 12, 0)
    con.execute(
        "CREATE TABLE streamed (StudyInstanceUID VARCHAR, SeriesInstanceUID VARCHAR, "
        "SOPInstanceUID VARCHAR, Modality VARCHAR, Type VARCHAR, LastUpdated TIMESTAMP)"
    )
    table = [
        ("1.9", "1.9.0", sop, modality, kind, None if h is None else base + dt.timedelta(hours=h))
        for sop, modality, kind, h in STREAMED
    ]
    con.executemany("INSERT INTO streamed VALUES (?, ?, ?, ?, ?, ?)", table)
    latest: dict[str, Row] = {}
    for row in table:
        seen = latest.get(row[2])
        if seen is None or (row[5] is not None and (seen[5] is None or row[5] > seen[5])):
            latest[row[2]] = row
    expected = sorted((r for r in latest.values() if r[4] != "DELETE"), key=lambda r: r[2])
    columns, rows = run(con, "current_state", table="streamed")
    assert columns == [
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "Modality",
        "Type",
        "LastUpdated",
    ]
    assert rows == expected
    assert [(r[2], r[3]) for r in rows] == [
        ("1.9.1", "CT"),
        ("1.9.3", "MR"),
        ("1.9.4", "US"),
        ("1.9.6", "SR"),
    ]


# -- what the DuckDB rewrites keep -------------------------------------------------------


def test_concat_and_cast_print_times_as_bigquery_does() -> None:
    con = duckdb.connect()
    values = [
        T(7, 59, 11),
        T(7, 59, 11, 500000),
        T(7, 59, 11, 120000),
        T(7, 59, 11, 123400),
        T(7, 59, 11, 123456),
        T(0, 0, 0, 1000),
    ]
    con.execute("CREATE TABLE dicom_metadata (t TIME, s VARCHAR, d DATE)")
    con.executemany(
        "INSERT INTO dicom_metadata VALUES (?, 'a.b', DATE '1998-09-24')", [[v] for v in values]
    )
    sql = translate(
        "SELECT CONCAT(d, ' ', t, ' ', s), CAST(t AS STRING), CONCAT(@p, s) "
        "FROM dicom_metadata ORDER BY t"
    )
    rows = con.execute(sql, {"p": "x."}).fetchall()
    assert rows == [
        (f"1998-09-24 {bigquery_text(v)} a.b", bigquery_text(v), "x.a.b") for v in sorted(values)
    ]


def test_in_unnest_becomes_a_subquery_with_bigquery_null_semantics() -> None:
    flat = " ".join(load_query("filter_file_paths").to_duckdb().split())
    assert "StudyInstanceUID IN ( SELECT UNNEST($study_uids) )" in flat
    assert "LIST_COUNT" not in flat
    sql = translate("SELECT @x IN UNNEST(@a) AS hit")
    con = duckdb.connect()
    cases = [
        ("b", ["a", "b"], True),
        ("c", ["a", "b"], False),
        ("a", [], False),
        (None, ["a"], None),
        ("c", ["a", None], None),
    ]
    assert [con.execute(sql, {"x": x, "a": a}).fetchall()[0][0] for x, a, _ in cases] == [
        want for *_, want in cases
    ]


def test_parsing_a_file_again_gives_an_equal_query() -> None:
    query = load_query("latest_studies")
    assert isinstance(query, CannedQuery)
    assert parse_query(query.sql, query.path) == query


def test_typed_text_gives_the_same_rows_as_the_generic_form():
    import duckdb

    from dicomlab.core.queries import load_query, translate

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES "
        "(DATE '2001-01-02', TIME '07:59:11.5', 'p1', '1.2'), "
        "(DATE '2001-01-02', TIME '07:59:11', 'p1', '1.3'), "
        "(DATE '2001-01-03', TIME '07:59:11.1234', 'p2', '1.4'), "
        "(DATE '2001-01-04', TIME '23:59:59.999999', 'p2', '1.6'), "
        "(NULL, TIME '07:00:00', 'p3', '1.5')) "
        "AS v(StudyDate, StudyTime, PatientID, StudyInstanceUID)"
    )
    types = {"StudyDate": "DATE", "StudyTime": "TIME", "PatientID": "VARCHAR"}
    sql = load_query("latest_studies").sql
    typed = translate(sql, table="t", column_types=types)
    assert "STRFTIME" in typed and "TYPEOF" not in typed
    generic = translate(sql, table="t")
    rows = con.sql(typed, params={"limit": 10}).fetchall()
    assert rows == con.sql(generic, params={"limit": 10}).fetchall()
    assert [r[0] for r in rows] == [
        "2001-01-04 23:59:59.999999",
        "2001-01-03 07:59:11.123400",
        "2001-01-02 07:59:11.500",
        "2001-01-02 07:59:11",
        None,
    ]
