"""export_cohort: one call from hits to an exported cohort, with its provenance record.

Client-side on the embedded default (metadata into DuckDB, files into a
folder); server-side against the Healthcare API double, with the filter file
in gcp-storage-emulator through the real google-cloud-storage client.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from pathlib import Path

import pydicom
import pytest
import requests

import dicomlab
from dicomlab.buckets.gcs import GcsBucket
from dicomlab.errors import AlreadyExistsError, FilterFileError, UnsupportedBackendError
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse
from tests.support.healthcare_double import HealthcareDouble, Outcome

STORE = "projects/store-project/locations/us/datasets/imaging/dicomStores/ct"
TOKEN = "ya29.cohort-SECRET-token"


@pytest.fixture
def lab(exported_lab, tmp_path):
    """A lab on the exported sample cohort, with its own bucket folder and warehouse copy.

    Cohort exports write tables; the shared exported lab stays as exported.
    """
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(exported_lab.warehouse.path, warehouse)
    return dicomlab.Lab(
        exported_lab.store,
        DuckDBWarehouse(warehouse),
        dicomlab.connect(home=tmp_path).bucket,
        table=exported_lab.table,
    )


def _provenance(lab, result) -> dict:
    name = result.provenance_uri.removeprefix(lab.bucket.url + "/")
    return json.loads(lab.bucket.download_bytes(name))


def test_metadata_of_exactly_the_cohort_goes_into_the_warehouse(lab):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    table = f"cohort_{uuid.uuid4().hex[:8]}"
    result = lab.export_cohort(hits, table, name=f"{table}.txt", progress=False)
    assert result.counters == {"success": len(hits), "failure": 0}
    exported = lab.sql("SELECT SOPInstanceUID FROM dicom_metadata", table=table)
    assert set(exported.SOPInstanceUID) == set(hits.SOPInstanceUID)
    record = _provenance(lab, result)
    assert record == json.loads(json.dumps(result.provenance, default=str))
    assert record["query"]["name"] == "patient_dicomweb_paths"
    assert record["query"]["params"] == {"patient_id": "77654033"}
    assert record["method"] == "client-side-metadata"
    text = lab.bucket.download_bytes(f"{table}.txt")
    assert record["filter_file"]["sha256"] == hashlib.sha256(text).hexdigest()
    assert record["filter_file"]["lines"] == len(hits) == len(text.splitlines())


def test_series_level_cohort_from_a_bq_uri(lab):
    hits = lab.query("patient_dicomweb_paths", patient_id="98890234")
    table = f"series_{uuid.uuid4().hex[:8]}"
    result = lab.export_cohort(
        hits.head(1), f"bq://my-project.imaging.{table}", level="series", progress=False
    )
    series = hits.SeriesInstanceUID.iloc[0]
    expected = (hits.SeriesInstanceUID == series).sum()
    assert result.counters == {"success": expected, "failure": 0}
    assert result.provenance["level"] == "series"
    assert result.filter_uri.endswith(".txt") and "filter-" in result.filter_uri


def test_instances_are_copied_into_a_folder_and_never_replaced(lab, tmp_path):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    out = tmp_path / "copy"
    result = lab.export_cohort(hits, str(out), name="copy.txt", progress=False)
    assert result.counters == {"success": len(hits), "skipped": 0, "failure": 0}
    files = sorted(out.rglob("*.dcm"))
    assert {pydicom.dcmread(f).SOPInstanceUID for f in files} == set(hits.SOPInstanceUID)
    files[0].write_bytes(b"kept")
    again = lab.export_cohort(hits, str(out), name="copy-again.txt", progress=False)
    assert again.counters == {"success": 0, "skipped": len(hits), "failure": 0}
    assert files[0].read_bytes() == b"kept"
    assert again.complete and "INCOMPLETE" not in repr(again) + again._repr_html_()
    missing = hits.copy()
    missing.loc[len(missing)] = ["/dicomWeb/x", "1.2.3.4", "1.2.3.4.5", "1.2.3.4.5.6"]
    broken = lab.export_cohort(missing, str(out), name="copy-broken.txt", progress=False)
    assert broken.counters["failure"] == 1 and not broken.complete
    assert "INCOMPLETE" in repr(broken) and "INCOMPLETE" in broken._repr_html_()


def test_a_named_filter_file_is_not_replaced_without_overwrite(lab):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    lab.bucket.upload_bytes(b"/studies/1.2\n", "taken.txt")
    with pytest.raises(AlreadyExistsError):
        lab.export_cohort(hits, "never_made", name="taken.txt", progress=False)
    assert lab.bucket.download_bytes("taken.txt") == b"/studies/1.2\n"
    assert lab.warehouse.count_rows("never_made") in (0, None)


@pytest.fixture
def google_store(healthcare_api: HealthcareDouble) -> DICOMwebStore:
    """The Google-profile store ``STORE`` on the (emptied) Healthcare double, with a token."""
    healthcare_api.reset()
    healthcare_api.add_store(STORE)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return DICOMwebStore(
        f"{healthcare_api.url}/v1/{STORE}/dicomWeb", session=session, profile="google"
    )


@pytest.fixture
def google_lab(google_store: DICOMwebStore, storage_emulator):
    """A lab on a Healthcare store (the double) with its bucket in the storage emulator."""
    bucket = GcsBucket(
        f"gs://{storage_emulator.bucket}/cohorts-{uuid.uuid4().hex[:8]}",
        client=storage_emulator.client(),
    )
    return dicomlab.Lab(google_store, dicomlab.connect(warehouse=":memory:").warehouse, bucket)


def test_healthcare_export_with_the_uploaded_filter_file(
    google_lab, healthcare_api, exported_lab, caplog
):
    caplog.set_level(logging.DEBUG)
    hits = exported_lab.query("patient_dicomweb_paths", patient_id="77654033")
    healthcare_api.script(Outcome(polls=1, success=len(hits)))
    result = google_lab.export_cohort(
        hits, "bq://store-project.imaging.cohort", name="lung.txt", progress=False
    )
    (export,) = [r for r in healthcare_api.requests if r.path.endswith(":export")]
    filter_uri = export.body["filterConfig"]["resourcePathsGcsUri"]
    assert filter_uri == result.filter_uri and filter_uri.endswith("/lung.txt")
    assert export.body["bigqueryDestination"] == {
        "tableUri": "bq://store-project.imaging.cohort",
        "writeDisposition": "WRITE_EMPTY",
    }
    uploaded = google_lab.bucket.download_bytes("lung.txt").decode().splitlines()
    rows = zip(hits.StudyInstanceUID, hits.SeriesInstanceUID, hits.SOPInstanceUID, strict=True)
    expected = {f"/studies/{s}/series/{se}/instances/{i}" for s, se, i in rows}
    assert len(uploaded) == len(expected) and set(uploaded) == expected
    assert result.provenance_uri.rsplit("/", 1)[-1].startswith("lung.")
    record = json.loads(google_lab.bucket.download_bytes(result.provenance_uri.rsplit("/", 1)[-1]))
    assert record["method"] == "healthcare-export"
    assert record["result"]["operation"] == result.operation.name
    assert record["result"]["counters"] == {"success": len(hits), "failure": 0}
    assert record["query"]["name"] == "patient_dicomweb_paths"
    everything = json.dumps(record) + repr(result) + result._repr_html_() + repr(google_lab)
    assert TOKEN not in everything
    assert caplog.records and TOKEN not in caplog.text


def test_healthcare_export_needs_the_filter_file_in_cloud_storage(
    google_store, healthcare_api, exported_lab, tmp_path
):
    local = dicomlab.connect(home=tmp_path).bucket
    lab = dicomlab.Lab(google_store, exported_lab.warehouse, local)
    hits = exported_lab.query("patient_dicomweb_paths", patient_id="77654033")
    with pytest.raises(UnsupportedBackendError) as info:
        lab.export_cohort(hits, "bq://store-project.imaging.cohort", progress=False)
    assert "gs://" in str(info.value)
    assert not [r for r in healthcare_api.requests if r.path.endswith(":export")]


def test_provenance_is_saved_next_to_the_filter_file(lab):
    hits = lab.query("latest_studies", limit=2)
    table = f"latest_{uuid.uuid4().hex[:8]}"
    result = lab.export_cohort(hits, table, name="sub/latest.txt", progress=False)
    assert result.filter_uri.endswith("/sub/latest.txt")
    assert "/sub/latest." in result.provenance_uri
    assert result.provenance_uri.endswith(".provenance.json")
    assert Path(result.provenance_uri.removeprefix("file://")).exists()
    assert result.provenance["level"] == "study"
    assert result.counters["success"] == hits.InstanceCount.sum()


def test_running_the_same_cell_twice_keeps_both_records(lab):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    table = f"again_{uuid.uuid4().hex[:8]}"
    first = lab.export_cohort(hits, table, progress=False)
    second = lab.export_cohort(hits, table, write_disposition="WRITE_TRUNCATE", progress=False)
    assert first.filter_uri == second.filter_uri
    assert first.provenance_uri != second.provenance_uri
    assert _provenance(lab, first)["result"]["counters"]["success"] == len(hits)
    assert lab.sql("SELECT COUNT(*) AS n FROM dicom_metadata", table=table).n[0] == len(hits)


def _bucket_objects(lab) -> list[str]:
    return sorted(lab.bucket.list())


def test_an_uploaded_filter_file_is_exported_as_it_is_not_copied(lab):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    cohort = dicomlab.FilterFile.from_dataframe(hits, level="series")
    uri = lab.upload(cohort, "cohorts/lung.txt")
    table = f"cohort_{uuid.uuid4().hex[:8]}"
    result = lab.export_cohort(uri, table, progress=False)
    assert result.filter_uri == uri
    assert result.provenance["filter_file"]["uri"] == uri
    assert result.counters == {"success": len(hits), "failure": 0}
    filters = [name for name in _bucket_objects(lab) if name.endswith(".txt")]
    assert filters == ["cohorts/lung.txt"], filters  # one filter file, no filter-<hash>.txt copy
    assert result.provenance_uri.startswith(f"{lab.bucket.url}/cohorts/lung.")


def test_a_filter_file_uploaded_under_its_name_is_reused(lab):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    cohort = dicomlab.FilterFile.from_dataframe(hits, level="series")
    uri = lab.upload(cohort, "mine.txt")
    result = lab.export_cohort(cohort, f"cohort_{uuid.uuid4().hex[:8]}", name="mine.txt")
    assert result.filter_uri == uri
    assert [n for n in _bucket_objects(lab) if n.endswith(".txt")] == ["mine.txt"]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("file:///elsewhere/cohort.txt", "not in the lab's bucket"),
        ("gs://other-bucket/cohort.txt", "not in the lab's bucket"),
    ],
)
def test_a_filter_file_uri_outside_the_bucket_is_refused(lab, where, message):
    with pytest.raises(UnsupportedBackendError) as info:
        lab.export_cohort(where, "never_made", progress=False)
    assert repr(where) in str(info.value) and message in str(info.value)
    assert _bucket_objects(lab) == []
    assert lab.warehouse.count_rows("never_made") in (0, None)


def test_an_uploaded_filter_file_at_another_level_is_refused(lab):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    uri = lab.upload(dicomlab.FilterFile.from_dataframe(hits, level="series"), "s.txt")
    with pytest.raises(FilterFileError) as info:
        lab.export_cohort(uri, "never_made", level="instance", progress=False)
    assert "'instance'" in str(info.value) and uri in str(info.value)
    assert _bucket_objects(lab) == ["s.txt"]


def test_instances_are_copied_to_a_file_uri_with_escaped_characters(lab, tmp_path):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    out = tmp_path / "copy here"
    result = lab.export_cohort(hits, out.as_uri(), name="uri-copy.txt", progress=False)
    assert "%20" in out.as_uri() and result.counters["success"] == len(hits)
    assert {pydicom.dcmread(f).SOPInstanceUID for f in out.rglob("*.dcm")} == set(
        hits.SOPInstanceUID
    )
    assert result.provenance["result"]["bucket"] == out.as_uri()


@pytest.mark.parametrize("destination", ["a\0b", "cohort\0", " ", 42])
def test_a_destination_that_is_no_path_or_uri_is_refused_before_any_upload(lab, destination):
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    with pytest.raises(UnsupportedBackendError, match="give bq://") as caught:
        lab.export_cohort(hits, destination, name="refused.txt", progress=False)
    assert repr(destination) in str(caught.value)
    assert not lab.bucket.exists("refused.txt")


def test_the_cohort_functions_need_no_lab(lab):
    """cohort.export_cohort works on the adapters it is given, whoever holds them."""
    from dicomlab.cohort import export_cohort

    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    table = f"cohort_{uuid.uuid4().hex[:8]}"
    done = export_cohort(
        lab.store, lab.bucket, lab.warehouse, hits, destination=table, progress=False
    )
    assert done.counters == {"success": len(hits), "failure": 0}
    assert done.provenance["dicomlab_version"] == dicomlab.__version__
    assert done.provenance["query"]["name"] == "patient_dicomweb_paths"
