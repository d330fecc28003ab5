"""BigQuery SQL written elsewhere, run unchanged on the embedded warehouse (the sample cohort).

The same SQL runs through the BigQuery REST double in test_bigquery_warehouse.py,
where it must reach BigQuery as written.
"""

from __future__ import annotations

import duckdb
import pytest

from dicomlab.errors import QueryError
from dicomlab.warehouses.duckdb import DuckDBWarehouse

COLUMNS = (
    "SELECT column_name, data_type, is_nullable "
    "FROM `my-project.imaging`.INFORMATION_SCHEMA.COLUMNS "
    "WHERE table_name = 'dicom_metadata'"
)


@pytest.mark.parametrize(
    "name",
    [
        "`my-project.imaging.dicom_metadata`",
        "imaging.dicom_metadata",
        "[my-project:imaging.dicom_metadata]",
    ],
)
def test_qualified_table_names_read_the_local_table(exported_lab, name):
    assert exported_lab.sql(f"SELECT COUNT(*) AS n FROM {name}").n.tolist() == [81]


def test_a_missing_table_named_in_full_says_which(exported_lab):
    with pytest.raises(QueryError, match="nowhere") as info:
        exported_lab.sql("SELECT COUNT(*) FROM `my-project.imaging.nowhere`")
    assert "Has the metadata been exported" not in str(info.value)


def test_a_script_with_variables_functions_and_a_temp_table(exported_lab):
    script = """
        DECLARE min_instances INT64 DEFAULT 10;
        DECLARE label STRING DEFAULT 'modality ';
        CREATE TEMP FUNCTION tagged(m STRING) AS (CONCAT(label, m));
        CREATE TEMP TABLE per_modality AS
          SELECT Modality, COUNT(*) AS n FROM `p.imaging.dicom_metadata` GROUP BY Modality;
        SET min_instances = min_instances + 5;
        SELECT tagged(Modality) AS what, n FROM per_modality
        WHERE n >= min_instances AND Modality != @skip ORDER BY n DESC
    """
    rows = exported_lab.sql(script, skip="XA")
    assert rows.to_dict("records") == [
        {"what": "modality CT", "n": 61},
        {"what": "modality MR", "n": 17},
    ]


def test_variables_and_temp_tables_do_not_outlive_the_call(exported_lab):
    exported_lab.sql(
        "DECLARE kept INT64 DEFAULT 1; CREATE TEMP TABLE kept_t AS SELECT 1 AS a; SELECT 1"
    )
    with pytest.raises(QueryError, match="kept_t"):
        exported_lab.sql("SELECT * FROM kept_t")


def test_unnest_with_offset_counts_from_zero_on_the_table(exported_lab):
    sql = (
        "SELECT SOPInstanceUID, part, i FROM dicom_metadata, UNNEST(ImageType) part WITH OFFSET i "
        "WHERE ARRAY_LENGTH(ImageType) > 1 ORDER BY SOPInstanceUID, i"
    )
    rows = exported_lab.sql(sql)
    first = rows[rows.SOPInstanceUID == rows.SOPInstanceUID.iloc[0]]
    whole = exported_lab.sql(
        "SELECT ImageType FROM dicom_metadata WHERE SOPInstanceUID = @uid",
        uid=rows.SOPInstanceUID.iloc[0],
    ).ImageType.iloc[0]
    assert first.i.tolist() == list(range(len(whole)))
    assert first.part.tolist() == list(whole)


def test_information_schema_columns_answers_with_bigquery_types(exported_lab):
    columns = exported_lab.sql(COLUMNS).set_index("column_name")
    table = exported_lab.sql("SELECT * FROM dicom_metadata LIMIT 0")
    assert list(columns.index) == list(table.columns)
    assert columns.loc["StudyDate", "data_type"] == "DATE"
    assert columns.loc["StudyInstanceUID", "data_type"] == "STRING"
    assert columns.loc["ImageType", "data_type"] == "ARRAY<STRING>"
    assert columns.loc["ImageType", "is_nullable"] == "NO"
    assert columns.loc["PatientName", "data_type"].startswith(
        "STRUCT<Alphabetic STRUCT<FamilyName STRING, GivenName STRING,"
    )
    sequences = columns[columns.data_type.str.startswith("ARRAY<STRUCT<")]
    assert len(sequences) > 0
    assert not columns.data_type.str.contains("VARCHAR|BIGINT|DOUBLE|\\[\\]").any()


def test_information_schema_tables_lists_the_tables(exported_lab):
    tables = exported_lab.sql("SELECT table_name, table_type FROM `p.d`.INFORMATION_SCHEMA.TABLES")
    assert tables.to_dict("records") == [
        {"table_name": "dicom_metadata", "table_type": "BASE TABLE"}
    ]


def test_unnamed_columns_are_named_as_bigquery_names_them(exported_lab):
    sql = (
        "SELECT CONCAT('/studies/', StudyInstanceUID), COUNT(*), Modality FROM dicom_metadata "
        "GROUP BY 1, 3 ORDER BY 2 DESC LIMIT 1"
    )
    assert list(exported_lab.sql(sql).columns) == ["f0_", "f1_", "Modality"]


def test_a_column_no_instance_carries_is_named(exported_lab):
    with pytest.raises(QueryError) as info:
        exported_lab.sql("SELECT SOPInstanceUID FROM dicom_metadata WHERE SpiralPitchFactor > 1")
    message = str(info.value)
    assert "'SpiralPitchFactor'" in message and "no instance in the table carries it" in message
    assert "Has the metadata been exported" not in message


def test_a_misspelt_alias_is_not_blamed_on_the_table(exported_lab):
    with pytest.raises(QueryError) as info:
        exported_lab.sql("SELECT x.Modality FROM dicom_metadata AS y")
    assert "no instance in the table carries it" not in str(info.value)


def test_duckdb_never_prints_its_own_progress_bar(tmp_path, monkeypatch):
    real_connect = duckdb.connect

    def notebook_connect(*args, **kwargs):  # DuckDB turns its bar on in notebooks
        con = real_connect(*args, **kwargs)
        con.execute("SET enable_progress_bar = true")
        return con

    monkeypatch.setattr(duckdb, "connect", notebook_connect)
    for warehouse in (DuckDBWarehouse(tmp_path / "w.duckdb"), DuckDBWarehouse(":memory:")):
        with warehouse.connection() as con:
            setting = con.execute("SELECT current_setting('enable_progress_bar')").fetchall()
        assert setting == [(False,)]


# ---- an empty REPEATED value: BigQuery returns [], never NULL ---------------------------------


def test_a_list_column_added_by_an_append_holds_empty_lists_in_older_rows():
    import pyarrow as pa

    warehouse = DuckDBWarehouse(":memory:")
    warehouse.load("t", pa.table({"SOPInstanceUID": ["1.1"]}))
    newer = pa.table({"SOPInstanceUID": ["1.2"], "ImageType": [["ORIGINAL"]]})
    warehouse.load("t", newer, write_disposition="WRITE_APPEND")
    rows = warehouse.run_sql(
        "SELECT SOPInstanceUID, ImageType, ARRAY_LENGTH(ImageType) AS n FROM t "
        "WHERE ARRAY_LENGTH(ImageType) = 0",
        {},
        table="t",
    )
    assert rows.SOPInstanceUID.tolist() == ["1.1"]  # BigQuery: an empty array, length 0
    assert list(rows.ImageType.iloc[0]) == [] and rows.n.tolist() == [0]


def test_null_arrays_in_results_come_back_empty_at_every_depth():
    warehouse = DuckDBWarehouse(":memory:")
    frame = warehouse.run_sql(
        "SELECT CAST(NULL AS ARRAY<STRING>) AS a, "
        "STRUCT(CAST(NULL AS ARRAY<INT64>) AS l) AS s, "
        "[STRUCT(CAST(NULL AS ARRAY<STRING>) AS l)] AS r",
        {},
        table="t",
    )
    row = frame.iloc[0]
    assert list(row.a) == [] and list(row.s["l"]) == [] and list(row.r[0]["l"]) == []
