"""The BigQuery warehouse through the real google-cloud-bigquery client, against the local double.

The sample cohort is exported into BigQuery with our own load path (one
Parquet load job, nested schema), then every canned query must return the
same DataFrame, values and dtypes, as on DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

import dicomlab
from dicomlab.errors import AlreadyExistsError, NotFoundError, QueryError
from dicomlab.warehouses.bigquery import BigQueryWarehouse, CostLimitError
from tests.support.bigquery_double import BigQueryDouble

PROJECT = "test-project"
PATIENT = "77654033"


@pytest.fixture(scope="module")
def double() -> Iterator[BigQueryDouble]:
    with BigQueryDouble(PROJECT) as server:
        server.create_dataset("imaging")
        yield server


def _warehouse(double: BigQueryDouble, **options) -> BigQueryWarehouse:
    client = bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": double.url},
    )
    return BigQueryWarehouse(f"bq://{PROJECT}.imaging", client=client, progress=False, **options)


@pytest.fixture(scope="module")
def bq_lab(double, exported_lab, tmp_path_factory):
    """The sample cohort exported into the double through BigQueryWarehouse loads."""
    lab = dicomlab.Lab(exported_lab.store, _warehouse(double), exported_lab.bucket)
    result = lab.export_metadata(progress=False, workers=1)
    assert result.counter == {"success": 81, "failure": 0}
    return lab


def _params(name, exported_lab):
    from dicomlab.core.queries import load_query

    query = load_query(name)
    values = {}
    for p in query.parameters:
        if p.type == "ARRAY<STRING>":
            values[p.name] = list(exported_lab.query("latest_studies", limit=3).StudyInstanceUID)
        elif p.type == "INT64":
            values[p.name] = 20
        elif p.type == "DATE":
            values[p.name] = "1990-01-01" if "start" in p.name or "from" in p.name else "2030-01-01"
        elif p.name == "modality":
            values[p.name] = "CT"
        else:
            values[p.name] = PATIENT
    return values


@pytest.mark.parametrize(
    "name",
    [
        "latest_studies",
        "patient_dicomweb_paths",
        "filter_file_paths",
        "studies_by_modality",
        "series_per_patient",
    ],
)
def test_canned_queries_agree_with_duckdb(bq_lab, exported_lab, name):
    params = _params(name, exported_lab)
    ours = bq_lab.query(name, **params)
    theirs = exported_lab.query(name, **params)
    assert len(theirs) > 0
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=True)


def test_the_whole_table_round_trips_with_its_nested_schema(bq_lab, exported_lab):
    sql = "SELECT SOPInstanceUID, PatientName.Alphabetic AS name, StudyDate FROM dicom_metadata"
    ours = bq_lab.sql(sql).sort_values("SOPInstanceUID").reset_index(drop=True)
    theirs = exported_lab.sql(sql).sort_values("SOPInstanceUID").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs)
    assert str(ours.StudyDate.dtype) == "dbdate"
    table = bq_lab.warehouse.client.get_table(f"{PROJECT}.imaging.dicom_metadata")
    fields = {f.name: f for f in table.schema}
    assert fields["PatientName"].field_type == "RECORD"
    assert fields["ImageType"].mode == "REPEATED"


def test_job_details_are_kept_on_the_result(bq_lab):
    hits = bq_lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    job = hits.attrs["dicomlab.job"]
    assert job["job_id"] and job["bytes_estimated"] > 0 and job["bytes_billed"] >= 0
    assert hits.attrs["dicomlab.query"]["job"] == job


def test_a_query_over_the_cap_is_never_started(double, bq_lab):
    warehouse = _warehouse(double, max_bytes_billed=1000)
    before = len(double.requests)
    with pytest.raises(CostLimitError) as info:
        dicomlab.Lab(bq_lab.store, warehouse, bq_lab.bucket).query("latest_studies", limit=5)
    assert "max_bytes_billed" in str(info.value) and "over the cap" in str(info.value)
    jobs = [r for r in double.requests[before:] if r.method == "POST"]
    assert len(jobs) == 1 and jobs[0].body["configuration"].get("dryRun") is True


def test_ten_thousand_uids_as_an_array_parameter(bq_lab, exported_lab):
    real = list(exported_lab.query("latest_studies", limit=20).StudyInstanceUID)
    uids = [f"1.2.826.0.1.3680043.8.498.{n}" for n in range(10_000 - len(real))] + real
    lines = bq_lab.query("filter_file_paths", study_uids=uids)
    assert len(lines) == 81


@pytest.mark.parametrize(
    "value", ["' OR '1'='1", "77654033' --", "x'; DROP TABLE dicom_metadata; --", "a\\'b", '"']
)
def test_injection_strings_find_nothing_and_change_nothing(bq_lab, value):
    assert len(bq_lab.query("patient_dicomweb_paths", patient_id=value)) == 0
    assert bq_lab.warehouse.count_rows("dicom_metadata") == 81


def test_missing_and_mistyped_parameters_are_refused(bq_lab):
    with pytest.raises(QueryError):
        bq_lab.query("latest_studies", limit="twenty")
    with pytest.raises(QueryError, match="not found"):
        bq_lab.sql("SELECT COUNT(*) AS n FROM dicom_metadata WHERE PatientID = @pid")


def test_loads_honour_write_dispositions(bq_lab):
    import pyarrow as pa

    warehouse = bq_lab.warehouse
    data = pa.table({"x": [1, 2, 3]})
    assert warehouse.load("small", data, write_disposition="WRITE_TRUNCATE") == 3
    with pytest.raises((AlreadyExistsError, QueryError, dicomlab.RemoteError)):
        warehouse.load("small", data, write_disposition="WRITE_EMPTY")
    assert warehouse.count_rows("small") == 3
    warehouse.load("small", data, write_disposition="WRITE_APPEND")
    assert warehouse.count_rows("small") == 6
    assert warehouse.count_rows("no_such_table") is None


def test_a_missing_dataset_says_how_to_create_it(double):
    import pyarrow as pa

    client = _warehouse(double).client
    warehouse = BigQueryWarehouse(f"bq://{PROJECT}.nowhere", client=client, progress=False)
    with pytest.raises(NotFoundError) as info:
        warehouse.load("t", pa.table({"x": [1]}))
    assert "bq mk --dataset test-project:nowhere" in str(info.value)


def test_current_state_reads_through_bigquery(bq_lab, exported_lab):
    with pytest.raises(QueryError, match="LastUpdated"):
        bq_lab.query("latest_studies", limit=5, source="current_state")  # not a streamed table
    result = bq_lab.export_metadata("streamed", streaming_columns=True, progress=False, workers=1)
    assert result.success == 81
    bq_lab.table = "dicom_metadata"
    ours = bq_lab.query("latest_studies", limit=20, table="streamed", source="current_state")
    theirs = exported_lab.query("latest_studies", limit=20)
    pd.testing.assert_frame_equal(ours, theirs)


def test_the_filter_file_can_be_built_in_bigquery(double, bq_lab, storage_emulator):
    from dicomlab.buckets.gcs import GcsBucket
    from dicomlab.core.filterfile import FilterFile

    storage = storage_emulator.client()
    double.storage = storage
    bucket = GcsBucket(f"gs://{storage_emulator.bucket}/server-side", client=storage)
    lab = dicomlab.Lab(bq_lab.store, bq_lab.warehouse, bucket)
    uri = f"gs://{storage_emulator.bucket}/server-side/patient.txt"
    assert (
        lab.filter_file_in_cloud("patient_dicomweb_paths", uri, level="series", patient_id=PATIENT)
        == uri
    )
    lines = FilterFile.parse(bucket.download_bytes("patient.txt").decode())
    expected = FilterFile.from_dataframe(
        bq_lab.query("patient_dicomweb_paths", patient_id=PATIENT), level="series"
    )
    assert set(lines.lines) == set(expected.lines)
    with pytest.raises(AlreadyExistsError):
        lab.filter_file_in_cloud("patient_dicomweb_paths", uri, patient_id=PATIENT)


def test_a_filter_file_that_would_shard_is_refused_before_any_extract(
    double, bq_lab, storage_emulator, monkeypatch
):
    import dicomlab.warehouses.bigquery as bigquery_module
    from dicomlab.buckets.gcs import GcsBucket

    monkeypatch.setattr(bigquery_module, "SINGLE_FILE_EXTRACT_LIMIT", 100)
    storage = storage_emulator.client()
    bucket = GcsBucket(f"gs://{storage_emulator.bucket}/shard", client=storage)
    lab = dicomlab.Lab(bq_lab.store, bq_lab.warehouse, bucket)
    before = len(double.requests)
    with pytest.raises(QueryError) as info:
        lab.filter_file_in_cloud(
            "patient_dicomweb_paths", f"gs://{storage_emulator.bucket}/shard/big.txt",
            level="instance", patient_id=PATIENT,
        )  # fmt: skip
    assert "7 lines" in str(info.value) and "narrow the cohort" in str(info.value)
    sent = [r.body for r in double.requests[before:] if r.method == "POST" and r.body]
    assert not any("extract" in body.get("configuration", {}) for body in sent)
    assert not bucket.exists("big.txt")
    tables = double.duckdb.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_dicomlab%'"
    ).fetchall()
    assert tables == []  # the scratch table is gone


def test_an_export_whose_columns_change_between_chunks_is_one_load(
    double, bq_lab, exported_lab, monkeypatch
):
    """Small chunks of the mixed sample cohort: the columns grow after the first chunk, so
    the chunks load again fitted to the final columns, still as a single load job."""
    import dicomlab.export.reading

    refits = []
    real = dicomlab.export.reading.ChunkReading.tables_fitted
    monkeypatch.setattr(
        dicomlab.export.reading.ChunkReading,
        "tables_fitted",
        lambda self: refits.append(1) or real(self),
    )
    loads_before = sum(1 for job in double.jobs.values() if "load" in job.resource["configuration"])
    result = bq_lab.export_metadata("chunked", progress=False, workers=1, chunk_size=7)
    assert result.counter == {"success": 81, "failure": 0} and refits == [1]
    loads = sum(1 for job in double.jobs.values() if "load" in job.resource["configuration"])
    assert loads == loads_before + 1
    ours = bq_lab.query("latest_studies", limit=20, table="chunked")
    pd.testing.assert_frame_equal(ours, exported_lab.query("latest_studies", limit=20))
    assert (
        result.columns == bq_lab.export_metadata("whole", progress=False, workers=1).columns
    )  # one chunk: the same columns


# ---- appends add fields (BigQuery's ALLOW_FIELD_ADDITION); they never drop or convert one ----


def _loads(double: BigQueryDouble) -> list[dict]:
    return [j.resource["configuration"]["load"] for j in double.jobs.values()
            if "load" in j.resource["configuration"]]  # fmt: skip


def test_append_keeps_a_nested_field_the_table_lacks(double, bq_lab):
    import pyarrow as pa

    warehouse = bq_lab.warehouse
    first = pa.table(
        {
            "SOPInstanceUID": ["1.1"],
            "ReferencedImageSequence": [[{"ReferencedSOPInstanceUID": "9.1"}]],
        }
    )
    second = pa.table({
        "SOPInstanceUID": ["1.2"],
        "ReferencedImageSequence": [
            [{"ReferencedSOPInstanceUID": "9.2", "ReferencedFrameNumber": ["2", "3"]}]
        ],
        "Modality": ["SEG"],
    })  # fmt: skip
    warehouse.load("refs", first, write_disposition="WRITE_TRUNCATE")
    assert warehouse.load("refs", second, write_disposition="WRITE_APPEND") == 1
    assert _loads(double)[-1]["schemaUpdateOptions"] == ["ALLOW_FIELD_ADDITION"]
    rows = sorted(double.read_table("imaging.refs").to_pylist(), key=lambda r: r["SOPInstanceUID"])
    items = [row["ReferencedImageSequence"][0] for row in rows]
    assert [i["ReferencedFrameNumber"] for i in items] == [None, ["2", "3"]]
    assert [i["ReferencedSOPInstanceUID"] for i in items] == ["9.1", "9.2"]
    assert [row["Modality"] for row in rows] == [None, "SEG"]


def test_append_of_the_same_fields_asks_for_no_schema_change(double, bq_lab):
    import pyarrow as pa

    warehouse = bq_lab.warehouse
    warehouse.load("same", pa.table({"A": ["x"], "B": [1]}), write_disposition="WRITE_TRUNCATE")
    warehouse.load("same", pa.table({"B": [2], "A": [None]}), write_disposition="WRITE_APPEND")
    assert "schemaUpdateOptions" not in _loads(double)[-1]
    assert warehouse.count_rows("same") == 2


@pytest.mark.parametrize(
    ("table", "rows", "field"),
    [
        pytest.param({"A": ["7"]}, {"A": [1]}, "A", id="string-column-gets-ints"),
        pytest.param({"A": [1]}, {"A": [1.5]}, "A", id="int-column-gets-floats"),
        pytest.param({"A": [["x"]]}, {"A": ["x"]}, "A", id="repeated-gets-single"),
        pytest.param(
            {"S": [[{"N": 1}]]}, {"S": [[{"N": "one"}]]}, "S.N", id="nested-int-gets-string"
        ),
    ],
)
def test_append_of_another_type_is_refused_before_any_load(double, bq_lab, table, rows, field):
    import pyarrow as pa

    from dicomlab.errors import InvalidRequestError

    warehouse = bq_lab.warehouse
    warehouse.load("typed", pa.table(table), write_disposition="WRITE_TRUNCATE")
    before, loads = double.read_table("imaging.typed"), len(_loads(double))
    with pytest.raises(InvalidRequestError, match=f"field {field!r}") as info:
        warehouse.load("typed", pa.table(rows), write_disposition="WRITE_APPEND")
    assert info.value.value == field
    assert len(_loads(double)) == loads  # nothing was sent
    assert double.read_table("imaging.typed").equals(before)


# ---- table names follow BigQuery's rule: case-sensitive unless the dataset says otherwise ----


def test_names_differing_in_case_are_two_tables_in_bigquery(double, bq_lab):
    rows = bq_lab.warehouse.count_rows("dicom_metadata")
    before = double.read_table("imaging.dicom_metadata")
    assert bq_lab.warehouse.count_rows("DICOM_METADATA") is None
    own = dicomlab.Lab(bq_lab.store, bq_lab.warehouse, bq_lab.bucket)
    result = own.export_metadata(table="DICOM_METADATA", progress=False, workers=1)
    assert result.success == rows
    assert bq_lab.warehouse.count_rows("DICOM_METADATA") == rows
    assert double.read_table("imaging.dicom_metadata").equals(before)  # the other is untouched
    assert double.read_table("imaging.DICOM_METADATA").num_rows == rows


@pytest.fixture(scope="module")
def folded_lab(double, bq_lab):
    """A lab on a dataset created with isCaseInsensitive, its table exported."""
    double.create_dataset("folded", case_insensitive=True)
    warehouse = BigQueryWarehouse(f"bq://{PROJECT}.folded", client=bq_lab.warehouse.client)
    lab = dicomlab.Lab(bq_lab.store, warehouse, bq_lab.bucket)
    lab.export_metadata(progress=False, workers=1)
    return lab


def test_a_case_insensitive_dataset_refuses_write_empty_in_another_case(double, folded_lab):
    rows = folded_lab.warehouse.count_rows("dicom_metadata")
    assert folded_lab.warehouse.count_rows("DICOM_METADATA") == rows
    before = double.read_table("folded.dicom_metadata")
    own = dicomlab.Lab(folded_lab.store, folded_lab.warehouse, folded_lab.bucket)
    with pytest.raises(AlreadyExistsError, match="'DICOM_METADATA'"):
        own.export_metadata(table="DICOM_METADATA", progress=False, workers=1)
    assert double.read_table("folded.dicom_metadata").equals(before)


def test_a_case_insensitive_dataset_appends_in_another_case(double, folded_lab):
    rows = folded_lab.warehouse.count_rows("dicom_metadata")
    own = dicomlab.Lab(folded_lab.store, folded_lab.warehouse, folded_lab.bucket)
    own.export_metadata(
        table="Dicom_Metadata", write_disposition="WRITE_APPEND", progress=False, workers=1
    )
    assert folded_lab.warehouse.count_rows("DICOM_METADATA") == 2 * rows
    assert double.duckdb_name("folded", "Dicom_Metadata") == "dicom_metadata"  # one table


# ---- SQL written for BigQuery reaches it as written ------------------------------------------


def _queries_sent(double: BigQueryDouble, since: int) -> list[str]:
    return [
        r.body["configuration"]["query"]["query"]
        for r in double.requests[since:]
        if r.method == "POST" and isinstance(r.body, dict) and "configuration" in r.body
    ]


def test_a_qualified_name_reaches_bigquery_as_written_and_agrees(double, bq_lab, exported_lab):
    sql = (
        "SELECT Modality, COUNT(*)\nFROM `test-project.imaging.dicom_metadata`  -- all of it\n"
        "GROUP BY Modality ORDER BY Modality"
    )
    before = len(double.requests)
    ours = bq_lab.sql(sql)
    assert set(_queries_sent(double, before)) == {sql}
    assert list(ours.columns) == ["Modality", "f0_"]
    pd.testing.assert_frame_equal(ours, exported_lab.sql(sql))


def test_the_legacy_table_form_reaches_bigquery_in_backticks(double, bq_lab, exported_lab):
    sql = "SELECT COUNT(*) AS n FROM [test-project:imaging.dicom_metadata]"
    before = len(double.requests)
    assert bq_lab.sql(sql).n.tolist() == exported_lab.sql(sql).n.tolist() == [81]
    assert set(_queries_sent(double, before)) == {
        "SELECT COUNT(*) AS n FROM `test-project.imaging.dicom_metadata`"
    }


@pytest.mark.parametrize(
    "sql",
    [
        "DECLARE x FLOAT64 DEFAULT 0.01;\n"
        "SELECT COUNT(*) FROM `test-project.imaging.dicom_metadata`",
        "CREATE TEMP FUNCTION f(x STRING) AS (x);\nSELECT f(Modality) FROM imaging.dicom_metadata",
        "SELECT column_name, data_type FROM `test-project.imaging`.INFORMATION_SCHEMA.COLUMNS "
        "WHERE table_name = 'dicom_metadata'",
    ],
)
def test_scripts_and_information_schema_reach_bigquery_untouched(double, bq_lab, sql):
    before = len(double.requests)
    with pytest.raises(dicomlab.errors.DicomlabError):  # the double models neither
        bq_lab.sql(sql)
    assert _queries_sent(double, before) == [sql]


def test_the_placeholder_in_a_script_is_the_only_change(double, bq_lab):
    sql = "DECLARE n INT64 DEFAULT 1;\nSELECT n FROM dicom_metadata LIMIT 1"
    before = len(double.requests)
    with pytest.raises(dicomlab.errors.DicomlabError):  # the double models no scripts
        bq_lab.sql(sql, table="series_t")
    assert _queries_sent(double, before) == [
        "DECLARE n INT64 DEFAULT 1;\n"
        "SELECT n FROM `test-project.imaging.series_t` AS dicom_metadata LIMIT 1"
    ]
