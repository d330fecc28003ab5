"""The DICOMweb store against a real Orthanc loaded with the sample cohort through our STOW."""

from __future__ import annotations

import io

import pandas as pd
import pydicom
import pytest

import dicomlab
from dicomlab.errors import NotFoundError, RemoteError
from dicomlab.stores.base import InstanceRef, MetadataItem
from dicomlab.stores.dicomweb import DICOMwebStore, StowResult
from dicomlab.stores.folder import FolderStore
from dicomlab.stores.stow import record_stow


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> FolderStore:
    """The same cohort as a folder store."""
    lab = dicomlab.connect(home=tmp_path_factory.mktemp("folder-home"))
    assert isinstance(lab.store, FolderStore)
    return lab.store


def _uids(df: pd.DataFrame, column: str = "SOPInstanceUID") -> set[str]:
    return set(df[column]) if len(df) else set()


@pytest.mark.parametrize(
    "filters",
    [
        {"PatientID": "77654033"},
        {"PatientID": "98890234"},
        {"Modality": "MR"},
        {"Modality": "CT"},
        {"PatientID": "7765*"},
    ],
)
def test_search_matches_folder_store(loaded, folder, filters):
    found = loaded.search_instances(**filters)
    assert len(found) > 0
    assert _uids(found) == _uids(folder.search_instances(**filters))


def test_search_by_study_date_range(loaded, folder):
    everything = folder.search_instances()
    expected = everything[everything.StudyDate.between("19970101", "20041231")]
    assert 0 < len(expected) < len(everything)
    assert _uids(folder.search_instances(StudyDate="19970101-20041231")) == _uids(expected)
    after = everything[everything.StudyDate >= "20030101"]
    assert _uids(folder.search_instances(StudyDate="20030101-")) == _uids(after)
    assert _uids(loaded.search_instances(StudyDate="20030101-")) == _uids(after)
    found = loaded.search_instances(StudyDate="19970101-20041231")
    assert _uids(found) == _uids(expected)
    studies = loaded.search_studies(StudyDate="19970101-20041231")
    assert _uids(studies, "StudyInstanceUID") == _uids(expected, "StudyInstanceUID")


def test_search_studies_and_series(loaded, folder):
    studies = loaded.search_studies(PatientID="77654033")
    instances = folder.search_instances(PatientID="77654033")
    assert _uids(studies, "StudyInstanceUID") == _uids(instances, "StudyInstanceUID")
    series = loaded.search_series(Modality="MR")
    assert _uids(series, "SeriesInstanceUID") == _uids(
        folder.search_instances(Modality="MR"), "SeriesInstanceUID"
    )


def test_search_without_match_is_empty(loaded):
    assert len(loaded.search_instances(PatientID="no-such-patient")) == 0


def test_count_instances(loaded, sample_files):
    assert loaded.count_instances() == len(sample_files)


def _ref(row: pd.Series) -> InstanceRef:
    return InstanceRef(row.StudyInstanceUID, row.SeriesInstanceUID, row.SOPInstanceUID)


def test_fetch_instance_matches_the_file(loaded, sample_files):
    expected = pydicom.dcmread(sample_files[0], stop_before_pixels=True)
    ref = InstanceRef(
        expected.StudyInstanceUID, expected.SeriesInstanceUID, expected.SOPInstanceUID
    )
    ds = loaded.fetch_instance(ref)
    assert ds.SOPInstanceUID == expected.SOPInstanceUID
    assert ds.PatientID == expected.PatientID


@pytest.mark.parametrize("media_type, fmt", [("image/png", "PNG"), ("image/jpeg", "JPEG")])
def test_fetch_thumbnail(loaded, media_type, fmt):
    from PIL import Image

    row = loaded.search_instances(PatientID="77654033", Modality="CT").iloc[0]
    image = Image.open(
        io.BytesIO(loaded.fetch_thumbnail(_ref(row), size=64, media_type=media_type))
    )
    assert image.format == fmt
    assert max(image.size) <= 64


def test_unknown_instance_is_not_found(loaded):
    ref = InstanceRef("1.2.3", "1.2.3.4", "1.2.3.4.5")
    with pytest.raises(NotFoundError) as info:
        loaded.fetch_instance(ref)
    assert "instances/1.2.3.4.5" in str(info.value)
    with pytest.raises(NotFoundError):
        loaded.fetch_thumbnail(ref)


def test_unreachable_server_is_a_remote_error():
    store = DICOMwebStore("http://127.0.0.1:9/dicom-web", timeout=(1, 1), max_attempts=1)
    with pytest.raises(RemoteError) as info:
        store.search_studies()
    assert info.value.service == "DICOMweb" and info.value.resource == "studies"
    assert info.value.status is None


def test_store_files_reports_unreadable_files(loaded, sample_files, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not DICOM")
    result = loaded.store_files([sample_files[0], bad])
    assert result.stored == [pydicom.dcmread(sample_files[0]).SOPInstanceUID]
    assert result.failures == [(str(bad), result.failures[0][1])]
    assert "not readable as DICOM" in result.failures[0][1]


def test_partial_stow_failure_is_read_from_the_body():
    response = pydicom.Dataset()
    ok, bad = pydicom.Dataset(), pydicom.Dataset()
    ok.ReferencedSOPInstanceUID, bad.ReferencedSOPInstanceUID = "1.2.1", "1.2.2"
    bad.FailureReason = 272
    response.ReferencedSOPSequence = [ok]
    response.FailedSOPSequence = [bad]
    result = StowResult()
    sent = {uid: pydicom.Dataset() for uid in ("1.2.1", "1.2.2", "1.2.3")}
    record_stow(response, sent, result)
    assert result.stored == ["1.2.1"]
    assert result.failures == [
        ("1.2.2", "refused by the server (FailureReason 272)"),
        ("1.2.3", "not acknowledged by the server"),
    ]


def test_iter_json_names_each_instance(loaded, sample_files):
    items = list(loaded.iter_json())
    assert len(items) == len(sample_files)
    assert all(isinstance(i, MetadataItem) and i.json is not None for i in items)
    assert items[0].source.startswith("studies/") and "/instances/" in items[0].source
    first = next(loaded.iter_metadata())
    assert first.dataset is not None and "SOPInstanceUID" in first.dataset


def test_open_store_accepts_dicomweb_urls(orthanc, tmp_path):
    lab = dicomlab.connect(store=orthanc.dicomweb_url + "/", home=tmp_path)
    assert isinstance(lab.store, DICOMwebStore)
    assert lab.store.url == orthanc.dicomweb_url


def test_export_and_query_match_folder_store(loaded, orthanc, tmp_path, exported_lab):
    lab = dicomlab.connect(store=orthanc.dicomweb_url, home=tmp_path)
    result = lab.export_metadata(progress=False)
    assert result.counter == {"success": 81, "failure": 0}
    ours = lab.query("latest_studies", limit=20)
    theirs = exported_lab.query("latest_studies", limit=20)
    columns = ["StudyInstanceUID", "InstanceCount"]
    key = "StudyInstanceUID"
    pd.testing.assert_frame_equal(
        ours[columns].sort_values(key).reset_index(drop=True),
        theirs[columns].sort_values(key).reset_index(drop=True),
    )


def test_images_from_the_server_in_row_order(loaded, orthanc, tmp_path, exported_lab):
    import numpy as np
    from PIL import Image

    lab = dicomlab.connect(store=orthanc.dicomweb_url, home=tmp_path)
    hits = exported_lab.query("patient_dicomweb_paths", patient_id="98890234")
    grid = lab.images(hits, size=32, progress=False, concurrency=4)
    assert [t.uids[2] for t in grid.tiles] == list(hits["SOPInstanceUID"])
    assert len(grid.tiles) == len(hits) == 24 and not grid.failed
    for tile in grid.tiles:
        pixels = np.asarray(Image.open(io.BytesIO(tile.image)))
        assert pixels.shape[:2] == (32, 32)
        assert tile.caption.split(" · ")[0] in ("CT", "MR")


@pytest.mark.parametrize("status", [400, 406, 500])
def test_server_that_cannot_render_falls_back_to_local_rendering(loaded, status, monkeypatch):
    import numpy as np
    from PIL import Image

    from dicomlab.core.render import render_dataset

    row = loaded.search_instances(PatientID="98890234", Modality="MR").iloc[0]
    calls = []

    def refuse(ref, **kwargs):
        calls.append(ref)
        raise RemoteError("cannot render", service="DICOMweb", resource="rendered", status=status)

    monkeypatch.setattr(loaded, "fetch_rendered", refuse)
    image = loaded.fetch_thumbnail(_ref(row), size=32, media_type="image/png")
    assert calls == [_ref(row)]
    expected = render_dataset(loaded.fetch_instance(_ref(row)), size=32, media_type="image/png")
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(image))), np.asarray(Image.open(io.BytesIO(expected)))
    )


def test_other_render_failures_are_not_hidden(loaded, monkeypatch):
    row = loaded.search_instances(PatientID="98890234", Modality="MR").iloc[0]

    def refuse(ref, **kwargs):
        raise RemoteError("forbidden", service="DICOMweb", resource="rendered", status=403)

    monkeypatch.setattr(loaded, "fetch_rendered", refuse)
    with pytest.raises(RemoteError) as info:
        loaded.fetch_thumbnail(_ref(row), size=32)
    assert info.value.status == 403


def test_basic_auth_and_bearer_headers_reach_the_server_and_never_the_repr(orthanc):
    import requests

    seen = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request.headers))
    store = DICOMwebStore(
        orthanc.dicomweb_url,
        session=session,
        auth=("alice", "s3cret-pw"),
        headers={"X-Token": "Bearer tok-123"},
    )
    store.search_studies(limit=1)
    assert seen and seen[0]["Authorization"].startswith("Basic ")
    assert seen[0]["X-Token"] == "Bearer tok-123"
    assert "s3cret" not in repr(store) and "tok-123" not in repr(store)


def test_stow_counts_only_what_was_sent_and_not_refused():
    response = pydicom.Dataset()
    items = []
    for uid in ("1.2.1", "1.2.2", "9.9.9"):  # 9.9.9 was never sent
        item = pydicom.Dataset()
        item.ReferencedSOPInstanceUID = uid
        items.append(item)
    failed = pydicom.Dataset()
    failed.ReferencedSOPInstanceUID, failed.FailureReason = "1.2.2", 49152
    response.ReferencedSOPSequence, response.FailedSOPSequence = items, [failed]
    result = StowResult()
    record_stow(response, {uid: pydicom.Dataset() for uid in ("1.2.1", "1.2.2")}, result)
    assert result.stored == ["1.2.1"]
    assert result.failures == [("1.2.2", "refused by the server (FailureReason 49152)")]


def test_two_files_with_one_sop_uid_in_a_batch_are_not_silently_merged(sample_files, tmp_path):
    from dicomlab.stores.stow import read_batch

    twin = pydicom.dcmread(sample_files[0])
    twin.PatientID = "someone else"
    copy = tmp_path / "copy.dcm"
    twin.save_as(copy)
    result = StowResult()
    datasets = read_batch([sample_files[0], copy], result)
    assert list(datasets) == [twin.SOPInstanceUID]
    assert datasets[twin.SOPInstanceUID].PatientID != "someone else"  # the first file is sent
    ((source, why),) = result.failures
    assert source == str(copy) and repr(twin.SOPInstanceUID) in why
    assert repr(str(sample_files[0])) in why


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b'"text"', b"<html>", b'{"x": 1}'])
def test_a_stow_body_that_is_not_dicom_json_is_no_response(body):
    import requests

    from dicomlab.stores.stow import json_body

    response = requests.Response()
    response._content, response.status_code = body, 400
    parsed = json_body(response)
    assert parsed is None or "ReferencedSOPSequence" not in parsed
