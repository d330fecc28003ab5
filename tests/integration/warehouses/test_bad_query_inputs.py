"""The bad-input catalogue for queries on the embedded warehouse: names, parameters, SQL.

A bad name or parameter is a typed error quoting it; injection attempts match
nothing; SQL that would change a table is refused. The tables and the bucket
stay as they were (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import pytest

from dicomlab.errors import InvalidIdentifierError, QueryError

WIDE = {"start_date": "1900-01-01", "end_date": "2100-01-01"}


@pytest.mark.parametrize(
    ("name", "params", "error", "shown"),
    [
        pytest.param("Latest_Studies", {}, InvalidIdentifierError, None, id="case"),
        pytest.param("../queries/latest_studies", {}, InvalidIdentifierError, None, id="path"),
        pytest.param("latest_studies.sql", {}, InvalidIdentifierError, None, id="suffix"),
        pytest.param("", {}, InvalidIdentifierError, None, id="empty-name"),
        pytest.param("no_such_query", {}, QueryError, None, id="unknown"),
        pytest.param("latest_studies", {}, QueryError, "missing: limit", id="missing"),
        pytest.param("series_per_patient", {"bogus": 1}, QueryError, "unknown: bogus", id="extra"),
        pytest.param(
            "patient_dicomweb_paths",
            {"patient_id": "77654033", "limit": 5},
            QueryError,
            "unknown: limit",
            id="extra-beside-declared",
        ),
        pytest.param("latest_studies", {"limit": "10"}, QueryError, "'10'", id="str-for-int"),
        pytest.param("latest_studies", {"limit": True}, QueryError, "bool True", id="bool-for-int"),
        pytest.param("latest_studies", {"limit": 1.5}, QueryError, "float 1.5", id="float-for-int"),
        pytest.param(
            "latest_studies", {"limit": None}, QueryError, "NoneType None", id="none-for-int"
        ),
        pytest.param(
            "latest_studies",
            {"limit": 2**64},
            QueryError,
            str(2**64),
            id="int-over-int64",
        ),
        pytest.param(
            "latest_studies",
            {"limit": -123456789},
            QueryError,
            "-123456789",
            id="negative-limit",
        ),
        pytest.param(
            "patient_dicomweb_paths",
            {"patient_id": 77654033},
            QueryError,
            "int 77654033",
            id="int-for-str",
        ),
        pytest.param(
            "studies_by_modality",
            {"modality": "CT", "start_date": "2024-02-30", "end_date": "2024-03-01"},
            QueryError,
            "'2024-02-30'",
            id="impossible-date",
        ),
        pytest.param(
            "studies_by_modality",
            {"modality": "CT", "start_date": "24/09/1998", "end_date": "2024-03-01"},
            QueryError,
            "'24/09/1998'",
            id="date-format",
        ),
        pytest.param(
            "filter_file_paths",
            {"study_uids": ["1.2", 3]},
            QueryError,
            "int 3",
            id="int-in-string-array",
        ),
        pytest.param(
            "filter_file_paths",
            {"study_uids": "1.2.3"},
            QueryError,
            "'1.2.3'",
            id="str-for-array",
        ),
        pytest.param(
            "latest_studies", {"limit": 1, "source": "nope"}, QueryError, "'nope'", id="bad-source"
        ),
        pytest.param(
            "latest_studies",
            {"limit": 1, "source": "latest_studies"},
            QueryError,
            "source 'latest_studies'",
            id="self-source",
        ),
        pytest.param(
            "latest_studies",
            {"limit": 1, "table": "no_such_table"},
            QueryError,
            "no_such_table",
            id="missing-table",
        ),
        pytest.param(
            "latest_studies",
            {"limit": 1, "table": "no-such-table"},
            InvalidIdentifierError,
            "'no-such-table'",
            id="bad-table-name",
        ),
        pytest.param(
            "latest_studies",
            {"limit": 1, "table": ""},
            InvalidIdentifierError,
            "table name ''",
            id="empty-table-name",
        ),
    ],
)
def test_bad_query_changes_nothing(bad_input_lab, lab_state, name, params, error, shown):
    """``shown``: what the message must quote (``None``: the query name's repr)."""
    before = lab_state()
    with pytest.raises(error) as info:
        bad_input_lab.query(name, **params)
    assert type(info.value) is error
    assert (repr(name) if shown is None else shown) in str(info.value)
    assert lab_state() == before


@pytest.mark.parametrize(
    ("name", "params"),
    [
        pytest.param("patient_dicomweb_paths", {"patient_id": "' OR '1'='1"}, id="or-true"),
        pytest.param(
            "patient_dicomweb_paths", {"patient_id": "77654033' OR '1'='1"}, id="known-id-or-true"
        ),
        pytest.param(
            "patient_dicomweb_paths",
            {"patient_id": "x'; DROP TABLE dicom_metadata; --"},
            id="drop-table",
        ),
        pytest.param("patient_dicomweb_paths", {"patient_id": '" OR 1=1 --'}, id="double-quote"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "%"}, id="like-wildcard"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "*"}, id="star"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "$patient_id"}, id="duckdb-param"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "@patient_id"}, id="bq-param"),
        pytest.param("patient_dicomweb_paths", {"patient_id": "77654033\x00"}, id="nul"),
        pytest.param(
            "studies_by_modality", {"modality": "CT' OR '1'='1", **WIDE}, id="modality-or-true"
        ),
        pytest.param(
            "filter_file_paths",
            {"study_uids": ["1' OR '1'='1", "') OR 1=1 --"]},
            id="array-items",
        ),
    ],
)
def test_injection_values_match_nothing(bad_input_lab, lab_state, name, params):
    before = lab_state()
    assert bad_input_lab.query(name, **params).empty
    assert lab_state() == before


@pytest.mark.parametrize(
    "text",
    [None, 42, b"SELECT 1", "", "   \n"],
    ids=["none", "int", "bytes", "empty", "blank"],
)
def test_sql_that_is_no_query_text_is_refused(bad_input_lab, lab_state, text):
    before = lab_state()
    with pytest.raises(QueryError) as info:
        bad_input_lab.sql(text)
    assert type(info.value) is QueryError
    assert repr(text) in str(info.value)
    assert lab_state() == before


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("DROP TABLE dicom_metadata", "DROP TABLE dicom_metadata", id="drop"),
        pytest.param("DELETE FROM dicom_metadata WHERE TRUE; SELECT 1", "DELETE FROM", id="delete"),
        pytest.param(
            "INSERT INTO dicom_metadata (PatientID) VALUES ('x'); SELECT 1",
            "INSERT INTO dicom_metadata",
            id="insert",
        ),
        pytest.param(
            "CREATE OR REPLACE TABLE dicom_metadata AS SELECT 1 AS a; SELECT 1",
            "CREATE OR REPLACE TABLE dicom_metadata",
            id="replace-table",
        ),
        pytest.param(
            "CREATE TEMP FUNCTION twice(x FLOAT64) RETURNS FLOAT64 LANGUAGE js "
            "AS 'return 2*x;'; SELECT twice(1)",
            "twice has a js body",
            id="javascript",
        ),
        pytest.param("SET y = 1; SELECT 1", "'y'", id="undeclared"),
        pytest.param(
            "SELECT * FROM INFORMATION_SCHEMA.PARTITIONS",
            "INFORMATION_SCHEMA.PARTITIONS",
            id="view",
        ),
        pytest.param(
            "SELECT SpiralPitchFactor FROM `p.d.dicom_metadata`",
            "'SpiralPitchFactor'",
            id="absent-column",
        ),
    ],
)
def test_sql_the_embedded_warehouse_refuses_changes_nothing(bad_input_lab, lab_state, text, shown):
    before = lab_state()
    with pytest.raises(QueryError) as info:
        bad_input_lab.sql(text)
    assert type(info.value) is QueryError
    assert shown in str(info.value)
    assert lab_state() == before
