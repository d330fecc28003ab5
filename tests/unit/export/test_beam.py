"""The Beam export's construction, without a cloud: options, sink, schema and the schema step."""

from __future__ import annotations

from typing import Any

import pytest

beam = pytest.importorskip(
    "apache_beam", reason="Apache Beam is not installed: pip install -e '.[beam]'"
)

from dicomlab.errors import UnsupportedBackendError  # noqa: E402
from dicomlab.export.beam import (  # noqa: E402
    BeamPlan,
    UnionColumns,
    bigquery_schema,
    build_pipeline,
    keep_first,
    to_json_row,
)
from dicomlab.export.beamrun import list_files, pipeline_options  # noqa: E402
from dicomlab.rows.schema import Column, merge_columns  # noqa: E402

A = {"SOPInstanceUID": Column("SOPInstanceUID", "STRING"), "Rows": Column("Rows", "INT64")}
B = {"SOPInstanceUID": Column("SOPInstanceUID", "STRING"), "Modality": Column("Modality", "STRING")}
C = {"Rows": Column("Rows", "INT64", "REPEATED")}

DATAFLOW = [
    "--project=my-project",
    "--region=europe-west4",
    "--temp_location=gs://my-bucket/tmp",
    "--requirements_file=requirements.txt",
]


def test_dataflow_options_are_passed_as_given() -> None:
    options = pipeline_options("DataflowRunner", " ".join(DATAFLOW)).get_all_options()
    assert options["runner"] == "DataflowRunner"
    assert (options["project"], options["region"]) == ("my-project", "europe-west4")
    assert options["temp_location"] == "gs://my-bucket/tmp"


def test_bigquery_sink_gets_the_exact_schema_and_disposition() -> None:
    from apache_beam.io.gcp.bigquery import WriteToBigQuery

    plan = BeamPlan(
        files=[(0, "a.dcm", "/x/a.dcm", -1)],
        output="gs://my-bucket/tmp/out",
        bigquery_table="my-project:my_dataset.dicom_metadata",
        write_disposition="WRITE_TRUNCATE",
        fail_on_unread=True,
    )
    # Built for the DirectRunner: the graph is the same, and nothing asks Google for credentials.
    pipeline = beam.Pipeline(options=pipeline_options("DirectRunner", DATAFLOW[:3]))
    parts = build_pipeline(pipeline, plan)
    write = parts["sink"].write
    assert isinstance(write, WriteToBigQuery)
    assert write.write_disposition == "WRITE_TRUNCATE"
    assert write.create_disposition == "CREATE_IF_NEEDED"
    assert write.method == WriteToBigQuery.Method.FILE_LOADS
    assert (write.table_reference.projectId, write.table_reference.datasetId) == (
        "my-project",
        "my_dataset",
    )
    assert write.schema is bigquery_schema and len(write.schema_side_inputs) == 1
    schema = bigquery_schema(None, merge_columns([A, B]))
    assert [(f["name"], f["type"], f["mode"]) for f in schema["fields"]] == [
        ("SOPInstanceUID", "STRING", "NULLABLE"),
        ("Rows", "INT64", "NULLABLE"),
        ("Modality", "STRING", "NULLABLE"),
    ]


def test_the_schema_step_merges_column_sets_in_store_order() -> None:
    union = UnionColumns()
    left = union.add_input(union.create_accumulator(), (5, "b", {}, B))
    left = union.add_input(left, (9, "a2", {}, A))
    right = union.add_input(union.create_accumulator(), (1, "a", {}, A))
    right = union.add_input(right, (7, "c", {}, C))
    merged = union.extract_output(union.merge_accumulators([left, right]))
    # As the local export merges them: A (first at 1), B (5), C (7).
    assert merged == merge_columns([A, B, C])
    assert list(merged) == ["SOPInstanceUID", "Rows", "Modality"]
    assert merged["Rows"].repeated


def test_one_row_per_instance_the_first_in_store_order() -> None:
    rows = [
        (4, "late.dcm", {"x": 1}, A),
        (2, "early.dcm", {"x": 1}, A),
        (6, "other.dcm", {"x": 2}, A),
    ]
    out: list[Any] = list(keep_first(("1.2.3", rows)))
    assert out[0][1] == "early.dcm"
    failures = [o.value for o in out[1:]]
    assert [(source, unread) for source, _, unread in failures] == [("other.dcm", False)]
    assert "early.dcm" in failures[0][1]  # a copy with the same values is not a failure


def test_json_rows_for_bigquery_loads() -> None:
    import datetime

    row = {"StudyDate": datetime.date(2020, 1, 2), "Data": b"\x00\x01", "N": [1, 2]}
    assert to_json_row(row) == {"StudyDate": "2020-01-02", "Data": "AAE=", "N": [1, 2]}


def test_dicomweb_stores_are_refused_by_name() -> None:
    class Web:
        url = "http://pacs/dicom-web"

    with pytest.raises(UnsupportedBackendError, match="http://pacs/dicom-web"):
        list_files(Web())  # type: ignore[arg-type]
