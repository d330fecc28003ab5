"""Request bodies and operation JSON for the Healthcare API, built and read without I/O."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dicomlab.core.resources import BigQueryTable, GcsUri
from dicomlab.errors import InvalidIdentifierError, InvalidResourceError, RemoteError
from dicomlab.google.healthcare import (
    MIME_TYPES,
    InvalidRequestError,
    build_bigquery_export,
    build_gcs_export,
    build_gcs_import,
    parse_mime_type,
)
from dicomlab.google.operations import Counters, ErrorStatus, Operation

TS = "1.2.840.10008.1.2"


def test_importing_the_adapter_loads_no_http_or_google_library():
    code = (
        "import sys, json, dicomlab.google.healthcare, dicomlab.google.operations\n"
        "print(json.dumps([m for m in ('requests', 'google.auth', 'tqdm') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize(
    "mime_type",
    [f"application/dicom; transfer-syntax={ts}" for ts in sorted(MIME_TYPES["application/dicom"])]
    + [
        f"application/octet-stream; transfer-syntax={TS}.1",
        "application/octet-stream; transfer-syntax=*",
        f"image/jpeg; transfer-syntax={TS}.4.50",
        "image/png",
    ],
)
def test_every_documented_mime_type_is_kept_as_is(mime_type):
    assert parse_mime_type(mime_type) == mime_type


def test_mime_types_are_canonicalised():
    assert parse_mime_type(f'Application/DICOM ;transfer-syntax="{TS}.4.91"') == (
        f"application/dicom; transfer-syntax={TS}.4.91"
    )
    assert len(MIME_TYPES["application/dicom"]) == 20  # 19 transfer syntaxes and *


@pytest.mark.parametrize(
    ("mime_type", "named"),
    [
        (f"image/jpeg; transfer-syntax={TS}.4.70", f"{TS}.4.50"),  # names what is accepted
        ("application/dicom; transfer-syntax=", f"{TS}.4.90"),
        ("image/gif", "image/png"),
        ("", "application/dicom"),
        (None, "application/dicom"),
    ],
)
def test_unsupported_mime_types_say_what_is(mime_type, named):
    with pytest.raises(InvalidIdentifierError) as caught:
        parse_mime_type(mime_type)
    assert repr(mime_type) in str(caught.value) and named in str(caught.value)
    assert caught.value.value == mime_type


def test_bigquery_export_accepts_parsed_names():
    table = BigQueryTable("example.com:my-project", "ds", "t")
    body = build_bigquery_export(table, filter_uri=GcsUri("my-bucket", "f.txt"))
    assert body == {
        "bigqueryDestination": {"tableUri": "bq://example.com:my-project.ds.t"},
        "filterConfig": {"resourcePathsGcsUri": "gs://my-bucket/f.txt"},
    }


@pytest.mark.parametrize("value", ["WRITE_DISPOSITION_UNSPECIFIED", "truncate", "", 1])
def test_write_disposition_must_be_one_of_three(value):
    with pytest.raises(InvalidIdentifierError, match="WRITE_EMPTY, WRITE_TRUNCATE, WRITE_APPEND"):
        build_bigquery_export("bq://my-project.ds.t", write_disposition=value)


def test_force_and_write_disposition_exclude_each_other():
    with pytest.raises(InvalidRequestError, match="not both") as caught:
        build_bigquery_export("bq://my-project.ds.t", write_disposition="WRITE_APPEND", force=False)
    assert caught.value.value == ("WRITE_APPEND", False)


def test_gcs_export_without_options_keeps_the_bytes():
    assert build_gcs_export("gs://my-bucket") == {"gcsDestination": {"uriPrefix": "gs://my-bucket"}}


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("gs://my-bucket/Example*.dcm", True),
        ("gs://my-bucket/Example?.dcm", True),
        ("gs://my-bucket/*/*.dcm", True),
        ("gs://my-bucket/dir/**", True),
        ("gs://my-bucket/dir/**.dcm", True),
        ("gs://my-bucket/dir/Ex**.dcm", True),
        ("gs://my-bucket/dir/**.tar.gz", True),
        ("gs://my-bucket/dir/***", False),
        ("gs://my-bucket/dir/**dcm", False),
        ("gs://my-bucket/dir?/**", False),
        ("gs://my-bucket/**/**", False),
        ("gs://my-bucket/dir/**.d?m", False),
    ],
)
def test_import_wildcards(uri, ok):
    if ok:
        assert build_gcs_import(uri) == {"gcsSource": {"uri": uri}}
    else:
        with pytest.raises(InvalidResourceError, match="other than at the very end") as caught:
            build_gcs_import(uri)
        assert repr(uri) in str(caught.value)


def test_counters_read_strings_ints_and_junk():
    counters = Counters.from_json(
        {"success": "5", "failure": 2, "pending": "x", "secondarySuccess": "1"}
    )
    assert counters == Counters(success=5, failure=2, pending=0, secondary_success=1)
    assert (
        Counters.from_json(None) == Counters()
        and Counters.from_json({"success": True}).success == 0
    )


def test_error_without_details():
    error = ErrorStatus.from_json({"code": 99, "message": "odd", "details": ["not an object"]})
    assert (error.status_name, error.sample_errors, error.logs_url) == ("UNKNOWN", (), None)


def test_an_operation_needs_a_name():
    with pytest.raises(RemoteError, match="no name"):
        Operation({"done": True})


def test_done_operation_states():
    name = "projects/my-project/locations/us/datasets/d/operations/9"
    assert Operation({"name": name, "done": True}).state == "SUCCEEDED"
    cancelled = Operation({"name": name, "done": True, "error": {"code": 1, "message": "x"}})
    assert cancelled.state == "CANCELLED" and cancelled.error is not None
