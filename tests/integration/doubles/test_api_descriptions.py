"""The API doubles answer as Google's discovery documents say Google does.

Raw HTTP against the doubles: known-bad requests get Google's 400 (naming the
bad field or value, with nothing started), valid v1 forms are accepted, and
the checker itself refuses responses the description does not allow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.bigquery_double import BigQueryDouble
from tests.support.discovery import (
    REVISIONS,
    DiscoveryApi,
    DiscoveryError,
    ResponseMismatch,
    load_document,
    select_fields,
)
from tests.support.healthcare_double import HealthcareDouble

PROJECT = "test-project"
STORE = "projects/store-project/locations/us-central1/datasets/imaging/dicomStores/ct"
TABLE = "bq://store-project.research.dicom_metadata"
HC = "healthcare.projects.locations.datasets."


@pytest.fixture
def bq(bigquery_server: BigQueryDouble) -> BigQueryDouble:
    bigquery_server.reset()
    bigquery_server.create_dataset("ds")
    return bigquery_server


@pytest.fixture(scope="module")
def healthcare_server() -> Iterator[HealthcareDouble]:
    with HealthcareDouble(require_auth=False) as double:
        yield double


@pytest.fixture
def hc(healthcare_server: HealthcareDouble) -> HealthcareDouble:
    healthcare_server.reset()
    healthcare_server.add_store(STORE)
    return healthcare_server


def _query(**extra: Any) -> dict[str, Any]:
    query = {"query": "SELECT 1 AS x", "useLegacySql": False}
    return {"configuration": {"query": query | extra}}


def _error(response: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- BigQuery: what Google refuses --------------------------------------------------------------

BIGQUERY_BAD = [
    ("jobs", {}, _query(writeDispostion="WRITE_EMPTY"), "writeDispostion"),
    ("jobs", {}, _query() | {"bogusTopLevel": 1}, "bogusTopLevel"),
    ("jobs", {}, _query(priority="URGENT"), "URGENT"),
    ("jobs", {}, _query(maximumBytesBilled="abc"), "abc"),
    ("jobs", {}, _query(maximumBytesBilled="9223372036854775808"), "9223372036854775808"),
    ("jobs", {}, _query(useLegacySql="no"), '"no"'),
    ("jobs", {}, {"configuration": {"query": {"useLegacySql": False}}}, "query"),
    ("jobs", {"bogus": "1"}, _query(), '"bogus"'),
    ("jobs", {"prettyPrint": "maybe"}, _query(), "maybe"),
    (
        "queries",
        {},
        {"query": "SELECT 1", "createDisposition": "CREATE_NEVER"},
        "createDisposition",
    ),
    ("queries", {}, {"query": "SELECT 1", "maxResults": "ten"}, "ten"),
]


@pytest.mark.parametrize(("path", "params", "body", "named"), BIGQUERY_BAD)
def test_bigquery_double_refuses_what_google_refuses(bq, path, params, body, named):
    url = f"{bq.url}/bigquery/v2/projects/{PROJECT}/{path}"
    response = requests.post(url, params=params, json=body, timeout=10)
    error = _error(response)
    assert (response.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["errors"][0]["reason"] == "invalid"
    assert named in error["message"]
    assert bq.jobs == {}  # nothing ran


def test_bigquery_double_reads_proto3_json_and_answers_partially(bq):
    url = f"{bq.url}/bigquery/v2/projects/{PROJECT}"
    body = {"configuration": {"query": {"query": "SELECT 1 AS x", "use_legacy_sql": False}}}
    created = requests.post(f"{url}/jobs", json=body, timeout=10)
    assert created.status_code == 200, created.text
    job_id = created.json()["jobReference"]["jobId"]
    assert bq.requests[-1].body["configuration"]["query"]["useLegacySql"] is False
    got = requests.get(f"{url}/jobs/{job_id}", params={"fields": "jobReference/jobId,status"})
    assert got.json() == {"jobReference": {"jobId": job_id}, "status": {"state": "DONE"}}


def test_bigquery_double_names_unmodelled_and_unknown_calls(bq):
    base = f"{bq.url}/bigquery/v2/projects/{PROJECT}"
    unmodelled = requests.get(f"{base}/datasets/ds/tables", timeout=10)
    assert (unmodelled.status_code, _error(unmodelled)["status"]) == (501, "UNIMPLEMENTED")
    unknown = requests.get(f"{base}/nothing-here", timeout=10)
    assert (unknown.status_code, _error(unknown)["status"]) == (404, "NOT_FOUND")
    wrong_method = requests.delete(f"{base}/queries", timeout=10)
    assert wrong_method.status_code == 404


# -- Healthcare: what v1 accepts -------------------------------------------------------------------

HEALTHCARE_VALID = [
    ("export", {}, {"bigqueryDestination": {"tableUri": TABLE, "schemaJson": {}}}),
    ("export", {}, {"bigqueryDestination": {"tableUri": TABLE, "schemaFlattened": {}}}),
    ("export", {}, {"bigqueryDestination": {"tableUri": TABLE, "includeSourceStore": True}}),
    (
        "export",
        {},
        {
            "bigqueryDestination": {
                "tableUri": TABLE,
                "force": True,
                "writeDisposition": "WRITE_EMPTY",
            }
        },
    ),
    ("export", {}, {"bigquery_destination": {"table_uri": TABLE, "write_disposition": 3}}),
    ("export", {}, {"bigqueryDestination": {"tableUri": "bq://other-project.ds.t"}}),
    (
        "import",
        {},
        {
            "gcsSource": {"uri": "gs://my-bucket/a/*.dcm"},
            "blobStorageSettings": {"blobStorageClass": "COLDLINE"},
        },
    ),
    (
        "import",
        {
            "fields": "name",
            "prettyPrint": "false",
            "alt": "json",
            "$.xgafv": "2",
            "quotaUser": "u1",
        },
        {"gcsSource": {"uri": "gs://my-bucket/a/*.dcm"}},
    ),
]


@pytest.mark.parametrize(("action", "params", "body"), HEALTHCARE_VALID)
def test_healthcare_double_accepts_valid_v1_requests(hc, action, params, body):
    url = f"{hc.url}/v1/{STORE}:{action}"
    response = requests.post(url, params=params, json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert list(response.json()) == ["name"]
    assert len(hc.operations) == 1


def test_healthcare_double_reads_snake_case_and_enum_numbers_as_google(hc):
    body = {"bigquery_destination": {"table_uri": TABLE, "write_disposition": 3}}
    requests.post(f"{hc.url}/v1/{STORE}:export", json=body, timeout=10)
    assert hc.requests[-1].body == {
        "bigqueryDestination": {"tableUri": TABLE, "writeDisposition": "WRITE_APPEND"}
    }


HEALTHCARE_BAD = [
    (
        "export",
        {},
        {"bigqueryDestination": {"tableUri": TABLE, "writeDispostion": "WRITE_EMPTY"}},
        "writeDispostion",
    ),
    ("export", {}, {"bigqueryDestination": {"tableUri": TABLE, "force": "yes"}}, '"yes"'),
    ("export", {}, {"bigqueryDestination": {"tableUri": TABLE, "writeDisposition": 9}}, "9"),
    ("export", {}, {"bigqueryDestination": {"tableUri": TABLE, "schemaJson": []}}, "schema_json"),
    ("export", {"bogus": "1"}, {"bigqueryDestination": {"tableUri": TABLE}}, '"bogus"'),
    ("export", {"name": STORE}, {"bigqueryDestination": {"tableUri": TABLE}}, '"name"'),
    ("export", {"$.xgafv": "3"}, {"bigqueryDestination": {"tableUri": TABLE}}, '"3"'),
    (
        "import",
        {},
        {"gcsSource": {"uri": "gs://b/a.dcm"}, "blobStorageSettings": {"blobStorageClass": "HOT"}},
        "HOT",
    ),
]


@pytest.mark.parametrize(("action", "params", "body", "named"), HEALTHCARE_BAD)
def test_healthcare_double_refuses_what_google_refuses(hc, action, params, body, named):
    url = f"{hc.url}/v1/{STORE}:{action}"
    response = requests.post(url, params=params, json=body, timeout=10)
    error = _error(response)
    assert (response.status_code, error["code"], error["status"]) == (400, 400, "INVALID_ARGUMENT")
    assert named in error["message"]
    assert hc.operations == {}


@pytest.mark.parametrize(
    ("action", "body", "kind"),
    [
        ("export", {"bigqueryDestination": {"tableUri": TABLE}}, "ExportDicomDataResponse"),
        ("import", {"gcsSource": {"uri": "gs://my-bucket/a.dcm"}}, "ImportDicomDataResponse"),
    ],
)
def test_healthcare_operations_end_with_their_response_message(hc, action, body, kind):
    name = requests.post(f"{hc.url}/v1/{STORE}:{action}", json=body, timeout=10).json()["name"]
    for _ in range(3):
        done = requests.get(f"{hc.url}/v1/{name}", timeout=10).json()
    assert done["done"] is True
    assert done["response"] == {
        "@type": f"type.googleapis.com/google.cloud.healthcare.v1.dicom.{kind}"
    }
    assert done["metadata"]["counter"]["success"] == "10"  # int64 as text


# -- the checker itself ----------------------------------------------------------------------------


def test_documents_are_the_pinned_revisions():
    for name, revision in REVISIONS.items():
        assert load_document(name)["revision"] == revision


def test_response_checks_catch_what_google_never_writes():
    api = DiscoveryApi("healthcare.v1")
    op = "/v1/projects/p/locations/l/datasets/d/operations/1"
    call = api.check_request("GET", op, {})
    assert call.method.id == HC + "operations.get"
    meta = "type.googleapis.com/google.cloud.healthcare.v1.OperationMetadata"
    api.check_response(
        call, {"name": "x", "metadata": {"@type": meta, "counter": {"success": "3"}}}
    )
    wrong = [
        {"name": "x", "metadata": {"@type": meta, "counter": {"success": 3}}},  # int64 as a number
        {"name": "x", "metadata": {"@type": meta, "progress": 1}},  # no such field
        {"name": "x", "done": None},  # null instead of omitted
        {"name": "x", "status": "METHOD_NOT_ALLOWED"},
        {"name": "x", "done": True, "response": {}},  # an Any without its @type
    ]
    for body in wrong:
        with pytest.raises(ResponseMismatch):
            api.check_response(call, body)


def test_paths_match_as_google_routes_them():
    bq = DiscoveryApi("bigquery.v2")
    method, params = bq.match("GET", "/bigquery/v2/projects/example.com:lab/jobs/j1")
    assert (method.id, params["projectsId"]) == ("bigquery.jobs.get", "example.com:lab")
    hc = DiscoveryApi("healthcare.v1")
    assert hc.match("POST", f"/v1/{STORE}:export")[0].id == HC + "dicomStores.export"
    assert hc.match("GET", f"/v1/{STORE}")[0].id == HC + "dicomStores.get"
    with pytest.raises(DiscoveryError, match="not found") as missing:
        hc.match("POST", f"/v1/{STORE}:exportAll")
    assert (missing.value.status, missing.value.rpc) == (404, "NOT_FOUND")


def test_bad_int64_and_unknown_parameters_are_googles_400():
    api = DiscoveryApi("bigquery.v2")
    path = f"/bigquery/v2/projects/{PROJECT}/queries/job1"
    with pytest.raises(DiscoveryError, match=r"'max_results'.*\"-1\"") as bad:
        api.check_request("GET", path, {"maxResults": ["-1"]})  # uint32
    assert (bad.value.status, bad.value.rpc) == (400, "INVALID_ARGUMENT")
    with pytest.raises(DiscoveryError, match='Unknown name "maxResult"'):
        api.check_request("GET", path, {"maxResult": ["5"]})


def test_required_query_parameters_are_required():
    api = DiscoveryApi("healthcare.v1")
    with pytest.raises(DiscoveryError, match="updateMask"):
        api.check_request("PATCH", f"/v1/{STORE}", {}, {"streamConfigs": []})
    call = api.check_request("PATCH", f"/v1/{STORE}", {"updateMask": ["streamConfigs"]}, {})
    assert call.method.id == HC + "dicomStores.patch"


def test_select_fields_follows_the_partial_response_syntax():
    body = {"a": 1, "b": [{"c": 2, "d": 3}], "e": {"f": {"g": 4, "h": 5}}}
    assert select_fields(body, "a,b(c),e/f/g") == {"a": 1, "b": [{"c": 2}], "e": {"f": {"g": 4}}}
    assert json.dumps(select_fields(body, "b/d")) == '{"b": [{"d": 3}]}'


def test_a_wrong_answer_from_a_double_fails_loudly(monkeypatch):
    from tests.support import healthcare_double

    def int_counters(self: Any) -> dict[str, Any]:
        meta = "type.googleapis.com/google.cloud.healthcare.v1.OperationMetadata"
        return {"name": self.name, "metadata": {"@type": meta, "counter": {"success": 1}}}

    monkeypatch.setattr(healthcare_double.FakeOperation, "to_json", int_counters)
    double = HealthcareDouble(require_auth=False).start()
    double.add_store(STORE)
    name = requests.post(
        f"{double.url}/v1/{STORE}:import",
        json={"gcsSource": {"uri": "gs://my-bucket/a.dcm"}},
        timeout=10,
    )
    polled = requests.get(f"{double.url}/v1/{name.json()['name']}", timeout=10)
    assert (polled.status_code, _error(polled)["status"]) == (501, "UNIMPLEMENTED")
    assert "counter.success" in double.bugs[0]
    with pytest.raises(AssertionError, match="answered wrongly"):
        double.__exit__(None, None, None)
