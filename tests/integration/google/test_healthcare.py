"""The Healthcare API adapter and its operations, against the local double of the REST API."""

from __future__ import annotations

import socket
import traceback
from typing import Any

import pytest
import requests

from dicomlab.errors import (
    InvalidIdentifierError,
    InvalidResourceError,
    NotFoundError,
    RemoteError,
)
from dicomlab.google.healthcare import HealthcareClient, InvalidRequestError
from dicomlab.google.operations import (
    Operation,
    OperationError,
    OperationTimeoutError,
    PartialFailureWarning,
)
from tests.support.healthcare_double import HealthcareDouble, Outcome

STORE = "projects/store-project/locations/us-central1/datasets/imaging/dicomStores/ct"
DATASET = "projects/store-project/locations/us-central1/datasets/imaging"
TABLE = "bq://other-project.research.dicom_metadata"
FILTER = "gs://my-bucket/cohorts/lung.txt"
TOKEN = "ya29.a0AfB_SECRET-token-never-shown"


class FakeTime:
    """An injectable clock and sleep: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def kwargs(self) -> dict[str, Any]:
        return {"sleep": self.sleep, "clock": self.clock, "progress": False}


@pytest.fixture
def double(healthcare_api: HealthcareDouble) -> HealthcareDouble:
    """The session's Healthcare API double, emptied, with ``STORE`` in it."""
    healthcare_api.reset()
    healthcare_api.add_store(STORE)
    return healthcare_api


@pytest.fixture
def session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


@pytest.fixture
def client(double: HealthcareDouble, session: requests.Session) -> HealthcareClient:
    return HealthcareClient(session, base_url=f"{double.url}/v1")


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def _sent(double: HealthcareDouble, method: str) -> list[Any]:
    return [r for r in double.requests if r.method == method]


# -- request bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "sent"),
    [
        ({}, {}),
        ({"write_disposition": "WRITE_TRUNCATE"}, {"writeDisposition": "WRITE_TRUNCATE"}),
        ({"write_disposition": "write-append"}, {"writeDisposition": "WRITE_APPEND"}),
        ({"force": False}, {"force": False}),
        ({"schema": "json"}, {"schemaJson": {}}),
        ({"schema": "flattened"}, {"schemaFlattened": {}}),
        ({"include_source_store": True}, {"includeSourceStore": True}),
        (
            {"schema": "json", "include_source_store": False, "write_disposition": "WRITE_APPEND"},
            {"schemaJson": {}, "includeSourceStore": False, "writeDisposition": "WRITE_APPEND"},
        ),
    ],
)
def test_export_to_bigquery_sends_the_documented_body(client, double, options, sent):
    op = client.export_to_bigquery(STORE, TABLE, **options)
    destination = {"tableUri": TABLE, **sent}
    (request,) = double.requests
    assert (request.method, request.path) == ("POST", f"/v1/{STORE}:export")
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.body == {"bigqueryDestination": destination}  # cross-project table allowed
    assert request.status == 200
    assert op.name.startswith(f"{DATASET}/operations/") and not op.done


def test_export_with_filter_file(client, double):
    client.export_to_bigquery(STORE, TABLE, force=True, filter_uri=FILTER)
    assert double.requests[0].body == {
        "bigqueryDestination": {"tableUri": TABLE, "force": True},
        "filterConfig": {"resourcePathsGcsUri": FILTER},
    }


def test_export_to_gcs_canonicalises_the_mime_type(client, double):
    client.export_to_gcs(
        STORE,
        "gs://my-bucket/out",
        mime_type="application/dicom;transfer-syntax=1.2.840.10008.1.2.4.90",
        filter_uri=FILTER,
    )
    assert double.requests[0].body == {
        "gcsDestination": {
            "uriPrefix": "gs://my-bucket/out",
            "mimeType": "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90",
        },
        "filterConfig": {"resourcePathsGcsUri": FILTER},
    }


@pytest.mark.parametrize(
    "uri",
    [
        "gs://my-bucket/dir/file.dcm",
        "gs://my-bucket/dir/Example*.dcm",
        "gs://my-bucket/dir/Example?.dcm",
        "gs://my-bucket/a*/b?.dcm",
        "gs://my-bucket/dir/**",
        "gs://my-bucket/dir/**.dcm",
        "gs://my-bucket/**",
    ],
)
def test_import_accepts_the_documented_wildcards(client, double, uri):
    op = client.import_from_gcs(STORE, uri)
    (request,) = double.requests
    assert (request.path, request.body) == (f"/v1/{STORE}:import", {"gcsSource": {"uri": uri}})
    assert request.status == 200 and op.name


def test_v1beta1_base_url(double, session):
    client = HealthcareClient(session, base_url=f"{double.url}/v1beta1/")
    op = client.export_to_bigquery(STORE, TABLE, filter_uri=FILTER).refresh()
    assert double.requests[0].path == f"/v1beta1/{STORE}:export"
    assert op.metadata["@type"].endswith("healthcare.v1beta1.OperationMetadata")


# -- validation before sending ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "options", "error", "value"),
    [
        ("bq://other-project.research.dicom-meta", {}, InvalidResourceError, "dicom-meta"),
        ("other-project.research.t", {}, InvalidResourceError, "'other-project.research.t'"),
        ("bq://p.research.t", {}, InvalidResourceError, "'p'"),
        (TABLE, {"write_disposition": "OVERWRITE"}, InvalidIdentifierError, "'OVERWRITE'"),
        (TABLE, {"write_disposition": "WRITE_EMPTY", "force": True}, InvalidRequestError, "EMPTY"),
        (TABLE, {"force": "yes"}, InvalidRequestError, "'yes'"),
        (TABLE, {"schema": "JSONL"}, InvalidIdentifierError, "'JSONL'"),
        (TABLE, {"schema": {}}, InvalidIdentifierError, "{}"),
        (TABLE, {"include_source_store": "yes"}, InvalidRequestError, "'yes'"),
        (TABLE, {"filter_uri": "gs://my-bucket/"}, InvalidResourceError, "'gs://my-bucket/'"),
        (TABLE, {"filter_uri": "gs://my-bucket/f*.txt"}, InvalidResourceError, "f*.txt"),
        (TABLE, {"filter_uri": "/tmp/lung.txt"}, InvalidResourceError, "'/tmp/lung.txt'"),
    ],
)
def test_bad_bigquery_export_is_refused_before_sending(
    client, double, table, options, error, value
):
    _refused(double, lambda: client.export_to_bigquery(STORE, table, **options), error, value)


def _refused(double: HealthcareDouble, call: Any, error: type[Exception], value: str) -> None:
    with pytest.raises(error) as caught:
        call()
    assert value in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert double.requests == []


@pytest.mark.parametrize(
    ("prefix", "mime_type", "error", "value"),
    [
        (
            "gs://my-bucket/o",
            "application/dicom; transfer-syntax=1.2.3",
            InvalidIdentifierError,
            "1.2.3",
        ),
        ("gs://my-bucket/o", "image/gif", InvalidIdentifierError, "'image/gif'"),
        (
            "gs://my-bucket/o",
            "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50",
            InvalidIdentifierError,
            "1.2.840.10008.1.2.4.50",
        ),
        ("gs://my-bucket/o", "application/dicom", InvalidIdentifierError, "'application/dicom'"),
        ("gs://my-bucket/o", "image/png; charset=1", InvalidIdentifierError, "charset=1"),
        ("gs://my-bucket/out/*", None, InvalidResourceError, "'gs://my-bucket/out/*'"),
        ("gs://My_Bucket/out", None, InvalidResourceError, "'My_Bucket'"),
    ],
)
def test_bad_gcs_export_is_refused_before_sending(client, double, prefix, mime_type, error, value):
    _refused(double, lambda: client.export_to_gcs(STORE, prefix, mime_type=mime_type), error, value)


@pytest.mark.parametrize(
    ("uri", "value"),
    [
        ("gs://my-bucket/**/x.dcm", "'gs://my-bucket/**/x.dcm'"),
        ("gs://my-bucket/a*/**", "'gs://my-bucket/a*/**'"),
        ("gs://my-bucket/dir/**.dcm*", "'gs://my-bucket/dir/**.dcm*'"),
        ("gs://my-bucket", "'gs://my-bucket'"),
        ("gs://my-bucket/dir/", "'gs://my-bucket/dir/'"),
        ("gs://my-bucket/[ab].dcm", "'gs://my-bucket/[ab].dcm'"),
        ("s3://my-bucket/x.dcm", "'s3://my-bucket/x.dcm'"),
    ],
)
def test_bad_import_source_is_refused_before_sending(client, double, uri, value):
    _refused(double, lambda: client.import_from_gcs(STORE, uri), InvalidResourceError, value)


@pytest.mark.parametrize(
    ("method", "args", "value"),
    [
        ("get_operation", ("operations/123",), "'operations/123'"),
        ("cancel_operation", (STORE,), "dicomStores/ct"),
        ("add_stream_destination", (STORE, "bq://other-project.research.x-y"), "'x-y'"),
        ("remove_stream_destination", ("not a store", TABLE), "'not a store'"),
        ("get_stream_configs", ("projects/p/datasets/d/dicomStores/s",), "projects/p/datasets/d"),
    ],
)
def test_bad_names_are_refused_before_sending(client, double, method, args, value):
    call = getattr(client, method)
    _refused(double, lambda: call(*args), InvalidResourceError, value)


def test_base_url_needs_a_version(session):
    with pytest.raises(InvalidResourceError, match=r"healthcare\.googleapis\.com/dicom"):
        HealthcareClient(session, base_url="https://healthcare.googleapis.com/dicom")


# -- operations ------------------------------------------------------------------------------


def test_an_operation_ending_with_empty_succeeds_too(client, double, fake_time):
    # The vendor pages' sample outputs end a BigQuery export with Empty.
    double.script(Outcome(polls=1, success=5, response="google.protobuf.Empty"))
    op = client.export_to_bigquery(STORE, TABLE)
    op.wait(**fake_time.kwargs())
    assert op.error is None and op.counters.success == 5
    assert op.response == {"@type": "type.googleapis.com/google.protobuf.Empty"}


def test_operation_runs_then_succeeds(client, double, fake_time):
    double.script(Outcome(polls=3, success=80))
    op = client.export_to_bigquery(STORE, TABLE)
    seen: list[tuple[str, int, int]] = []
    op.wait(**{**fake_time.kwargs(), "progress": lambda o: seen.append(_snapshot(o))})
    assert seen == [
        ("RUNNING", 0, 0),
        ("RUNNING", 26, 54),
        ("RUNNING", 53, 27),
        ("SUCCEEDED", 80, 0),
    ]
    assert fake_time.sleeps == [1.0, 2.0, 4.0]
    assert (
        op.done
        and op.error is None
        and op.response
        == {"@type": "type.googleapis.com/google.cloud.healthcare.v1.dicom.ExportDicomDataResponse"}
    )
    assert op.method == "ExportDicomData_bq"
    assert op.logs_url and op.logs_url.startswith("https://console.cloud.google.com/")
    assert [r.path for r in _sent(double, "GET")] == [f"/v1/{op.name}"] * 3


def _snapshot(op: Operation) -> tuple[str, int, int]:
    return op.state, op.counters.success, op.counters.pending


def test_back_off_doubles_up_to_the_cap(client, double, fake_time):
    double.script(Outcome(polls=8))
    client.import_from_gcs(STORE, "gs://my-bucket/**").wait(max_interval=10, **fake_time.kwargs())
    assert fake_time.sleeps == [1, 2, 4, 8, 10, 10, 10, 10]


def test_failed_import_raises_with_sample_errors(client, double, fake_time):
    samples = [(f"gs://my-bucket/in/{i}.dcm", 3, "not a DICOM file") for i in range(7)]
    double.script(
        Outcome(polls=1, success=5, failure=7, error=(3, "import failed"), sample_errors=samples)
    )
    op = client.import_from_gcs(STORE, "gs://my-bucket/in/*.dcm")
    with pytest.raises(OperationError) as caught:
        op.wait(**fake_time.kwargs())
    error = caught.value
    assert isinstance(error, RemoteError) and error.service == "Cloud Healthcare API"
    assert (error.code, error.rpc_status, error.error_message) == (
        3,
        "INVALID_ARGUMENT",
        "import failed",
    )
    assert error.resource == op.name and error.logs_url == op.logs_url
    assert [s.resource for s in error.sample_errors] == [s[0] for s in samples]
    assert (error.counters.success, error.counters.failure) == (5, 7)
    text = str(error)
    assert op.name in text and "ImportDicomData" in text and "import failed" in text
    assert "gs://my-bucket/in/4.dcm: not a DICOM file" in text and "2 more sample errors" in text
    assert "gs://my-bucket/in/5.dcm" not in text and f"Logs: {op.logs_url}" in text
    assert op.state == "FAILED"


def test_success_with_failures_warns_and_reports(client, double, fake_time):
    double.script(Outcome(polls=1, success=10, failure=2))
    op = client.import_from_gcs(STORE, "gs://my-bucket/in/**.dcm")
    with pytest.warns(PartialFailureWarning, match=r"2 of 12 instances failed; see https://"):
        assert op.wait(**fake_time.kwargs()) is op
    assert op.state == "SUCCEEDED_WITH_FAILURES"
    assert op.counters.as_dict() == {"success": 10, "failure": 2, "pending": 0}
    assert "SUCCEEDED_WITH_FAILURES" in repr(op) and "failure=2" in repr(op)


def test_timeout_names_the_operation_and_how_to_go_on(client, double, fake_time):
    double.script(Outcome(polls=6))
    op = client.export_to_bigquery(STORE, TABLE)
    with pytest.raises(OperationTimeoutError) as caught:
        op.wait(timeout=10, **fake_time.kwargs())
    assert isinstance(caught.value, TimeoutError) and caught.value.operation is op
    assert fake_time.sleeps == [1, 2, 4, 3]  # the last pause stops at the deadline
    message = str(caught.value)
    assert op.name in message and "10 s" in message and "op.wait()" in message
    assert f"get_operation({op.name!r})" in message and "op.cancel()" in message
    # Waiting again picks up where it stopped.
    client.get_operation(op.name).wait(**fake_time.kwargs())
    assert op.refresh().state == "SUCCEEDED"


def test_cancel(client, double, fake_time):
    double.script(Outcome(polls=50))
    op = client.export_to_gcs(STORE, "gs://my-bucket/out")
    assert op.cancel() is op
    (cancel,) = _sent(double, "POST")[1:]
    assert (cancel.path, cancel.body) == (f"/v1/{op.name}:cancel", {})
    assert op.state == "CANCELLED" and op.metadata["cancelRequested"] is True
    with pytest.raises(OperationError, match="was cancelled CANCELLED") as caught:
        op.wait(**fake_time.kwargs())
    assert caught.value.code == 1 and fake_time.sleeps == []


def test_transient_polling_errors_are_retried(client, double, fake_time):
    op = client.export_to_bigquery(STORE, TABLE)
    double.fail_next(503, "The service is currently unavailable.", times=2)
    op.wait(**fake_time.kwargs())
    assert op.state == "SUCCEEDED" and len(_sent(double, "GET")) == 4


def test_persistent_polling_errors_raise(client, double, fake_time):
    op = client.export_to_bigquery(STORE, TABLE)
    double.fail_next(503, "The service is currently unavailable.", times=3)
    with pytest.raises(RemoteError, match="HTTP 503 UNAVAILABLE") as caught:
        op.wait(**fake_time.kwargs())
    assert caught.value.status == 503 and not isinstance(caught.value, OperationError)


def test_progress_bar_shows_counters(client, double, fake_time, capsys):
    double.script(Outcome(polls=2, success=40, failure=1))
    op = client.import_from_gcs(STORE, "gs://my-bucket/**")
    with pytest.warns(PartialFailureWarning):
        op.wait(sleep=fake_time.sleep, clock=fake_time.clock, progress=True)
    err = capsys.readouterr().err
    assert "ImportDicomData" in err and "40 succeeded, 1 failed" in err
    assert "20 succeeded, 0 failed, 21 pending" in err and "00:00" in err


def test_reprs(client, double):
    double.script(Outcome(polls=0, success=3, error=(7, "<denied> & more")))
    op = client.get_operation(client.export_to_bigquery(STORE, TABLE).name)
    assert repr(op) == (
        f"<Operation {op.name} ExportDicomData_bq FAILED success=3 failure=0 pending=0>"
    )
    page = op._repr_html_()
    assert "&lt;denied&gt; &amp; more" in page and "PERMISSION_DENIED" in page
    assert f'<a href="{op.logs_url}"' in page and "<b>FAILED</b>" in page
    assert repr(client) == f"HealthcareClient('{double.url}/v1')"


def test_operation_without_client():
    op = Operation({"name": f"{DATASET}/operations/1"})
    assert op.state == "RUNNING" and op.method == "" and op.check() is op
    with pytest.raises(Exception, match="no client"):
        op.refresh()


# -- stream configs --------------------------------------------------------------------------


def _table(n: int) -> str:
    return f"bq://other-project.stream.t{n}"


def _config(n: int) -> dict[str, Any]:
    return {"bigqueryDestination": {"tableUri": _table(n)}}


def test_add_and_remove_stream_destinations(client, double):
    assert client.get_stream_configs(STORE) == []
    assert client.add_stream_destination(STORE, _table(1)) == [_config(1)]
    (patch,) = _sent(double, "PATCH")
    assert (patch.path, patch.query) == (f"/v1/{STORE}", {"updateMask": ["streamConfigs"]})
    assert patch.body == {"streamConfigs": [_config(1)]}
    assert client.add_stream_destination(STORE, _table(2)) == [_config(1), _config(2)]
    assert client.remove_stream_destination(STORE, _table(1)) == [_config(2)]
    assert client.remove_stream_destination(STORE, _table(2)) == []
    assert double.stores[STORE]["streamConfigs"] == []


def test_adding_a_present_destination_changes_nothing(client, double):
    kept = {"bigqueryDestination": {"tableUri": _table(1), "writeDisposition": "WRITE_APPEND"}}
    double.add_store(STORE, [kept])
    assert client.add_stream_destination(STORE, _table(1)) == [kept]
    assert _sent(double, "PATCH") == []
    client.add_stream_destination(STORE, _table(2))
    assert _sent(double, "PATCH")[0].body == {"streamConfigs": [kept, _config(2)]}


def test_a_sixth_destination_is_refused_before_sending(client, double):
    double.add_store(STORE, [_config(n) for n in range(5)])
    with pytest.raises(InvalidRequestError) as caught:
        client.add_stream_destination(STORE, _table(5))
    assert _table(5) in str(caught.value) and _table(4) in str(caught.value)
    assert [r.method for r in double.requests] == ["GET"]


def test_removing_an_absent_destination(client, double):
    double.add_store(STORE, [_config(1)])
    with pytest.raises(NotFoundError) as caught:
        client.remove_stream_destination(STORE, _table(2))
    assert _table(2) in str(caught.value) and _table(1) in str(caught.value)
    assert [r.method for r in double.requests] == ["GET"]


# -- error translation and secrets -----------------------------------------------------------


def test_missing_store_is_not_found(client, double):
    other = STORE.replace("/ct", "/mr")
    with pytest.raises(NotFoundError, match=f"DICOM store {other} does not exist"):
        client.export_to_bigquery(other, TABLE)


def test_google_error_message_and_hint(client, double):
    double.fail_next(403, "Permission healthcare.dicomStores.export denied on resource")
    with pytest.raises(RemoteError) as caught:
        client.export_to_bigquery(STORE, TABLE)
    error = caught.value
    assert (error.status, error.service, error.resource) == (
        403,
        "Cloud Healthcare API",
        f"{STORE}:export",
    )
    assert "HTTP 403 PERMISSION_DENIED: Permission healthcare.dicomStores.export denied" in str(
        error
    )
    assert "service agent" in str(error)


def test_unauthenticated(double):
    client = HealthcareClient(requests.Session(), base_url=f"{double.url}/v1")
    with pytest.raises(RemoteError, match=r"HTTP 401 UNAUTHENTICATED.*application-default login"):
        client.get_stream_configs(STORE)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _everything_shown(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error) + str(error)


def test_the_token_never_appears(client, double, session, fake_time):
    shown = []
    double.fail_next(403, f"caller with header 'Authorization: Bearer {TOKEN}' is not allowed")
    with pytest.raises(RemoteError) as caught:
        client.get_stream_configs(STORE)
    shown.append(_everything_shown(caught.value))
    with pytest.raises(NotFoundError) as missing:
        client.get_stream_configs(STORE.replace("/ct", "/mr"))
    shown.append(_everything_shown(missing.value))
    offline = HealthcareClient(session, base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    with pytest.raises(RemoteError) as refused:
        offline.get_operation(f"{DATASET}/operations/1")
    assert refused.value.status is None and "ConnectionError" in str(refused.value)
    shown.append(_everything_shown(refused.value))
    double.script(Outcome(polls=1, error=(13, "internal")))
    op = client.export_to_bigquery(STORE, TABLE)
    with pytest.raises(OperationError) as failed:
        op.wait(**fake_time.kwargs())
    shown += [_everything_shown(failed.value), repr(op), op._repr_html_(), repr(client)]
    assert "[redacted]" in shown[0]
    for text in shown:
        assert TOKEN not in text and "SECRET" not in text


def test_from_default_credentials(monkeypatch, double):
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError
    from google.auth.transport.requests import AuthorizedSession

    from dicomlab.google.healthcare import CredentialsError, from_default_credentials

    seen: list[list[str]] = []

    def fake_default(scopes: list[str]) -> tuple[AnonymousCredentials, str]:
        seen.append(scopes)
        return AnonymousCredentials(), "store-project"

    monkeypatch.setattr(google.auth, "default", fake_default)
    client = from_default_credentials(base_url=f"{double.url}/v1")
    assert isinstance(client._session, AuthorizedSession)
    assert seen == [["https://www.googleapis.com/auth/cloud-platform"]]

    def no_credentials(scopes: list[str]) -> None:
        raise DefaultCredentialsError("Could not automatically determine credentials.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    with pytest.raises(CredentialsError, match="gcloud auth application-default login"):
        from_default_credentials()


# -- the double itself refuses what SPEC forbids ----------------------------------------------

BQ = {"tableUri": TABLE}
PATCH = f"{STORE}?updateMask=streamConfigs"
EXPORT = f"{STORE}:export"
RAW_BAD = [
    (
        "POST",
        EXPORT,
        {"bigqueryDestination": BQ, "writeDisposition": "WRITE_EMPTY"},
        'Unknown name "writeDisp',
    ),
    (
        "POST",
        EXPORT,
        {"bigqueryDestination": {"tableUri": "bq://other-project.ds.my-table"}},
        "tableUri",
    ),
    ("POST", EXPORT, {"bigqueryDestination": {**BQ, "writeDisposition": "OVERWRITE"}}, "OVERWRITE"),
    (
        "POST",
        EXPORT,
        {"bigqueryDestination": BQ, "gcsDestination": {"uriPrefix": "gs://a-b"}},
        "one dest",
    ),
    (
        "POST",
        EXPORT,
        {"gcsDestination": {"uriPrefix": "gs://a-b", "mimeType": "image/gif"}},
        "mimeType",
    ),
    (
        "POST",
        EXPORT,
        {"bigqueryDestination": {**BQ, "schemaJson": {}, "schemaFlattened": {}}},
        "not both",
    ),
    (
        "POST",
        EXPORT,
        {"bigqueryDestination": BQ, "filterConfig": {"resourcePathsGcsUri": "gs://a-b"}},
        "resourcePathsGcsUri",
    ),
    ("POST", f"{STORE}:import", {"gcsSource": {"uri": "gs://my-bucket/**/a.dcm"}}, "** must end"),
    ("PATCH", PATCH, {"streamConfigs": [_config(n) for n in range(6)]}, "at most 5"),
    ("PATCH", PATCH, {"streamConfigs": [_config(1), _config(1)]}, "unique"),
    ("PATCH", f"{STORE}?updateMask=streamConfigs&force=true", {"streamConfigs": []}, '"force"'),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), RAW_BAD)
def test_double_refuses_requests_against_spec(double, session, method, path, body, message):
    response = session.request(method, f"{double.url}/v1/{path}", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert message in error["message"]


def test_double_checks_content_type_and_auth(double, session):
    url = f"{double.url}/v1/{STORE}:import"
    body = '{"gcsSource": {"uri": "gs://my-bucket/a.dcm"}}'
    plain = session.post(url, data=body, headers={"Content-Type": "text/plain"})
    assert plain.status_code == 400 and "Content-Type" in plain.json()["error"]["message"]
    assert (
        requests.post(url, json={"gcsSource": {"uri": "gs://my-bucket/a.dcm"}}).status_code == 401
    )
    beta = session.post(
        f"{double.url}/v1beta1/{STORE}:export",
        json={"bigqueryDestination": {"tableUri": TABLE, "schemaJson": {}}},
    )
    assert beta.status_code == 200
    # A described path with another method, or no described path: Google's 404.
    for wrong in (
        session.delete(f"{double.url}/v1/{STORE}:export"),
        session.get(f"{double.url}/v2/{STORE}"),
    ):
        assert (wrong.status_code, wrong.json()["error"]["status"]) == (404, "NOT_FOUND")
    labels = session.patch(
        f"{double.url}/v1/{STORE}?updateMask=labels", json={"labels": {"a": "b"}}
    )
    assert (labels.status_code, labels.json()["error"]["status"]) == (501, "UNIMPLEMENTED")
