"""One behaviour, two stores: the same tests run on a folder store and on a real Orthanc.

Expected values come from reading the sample files directly with pydicom (an
oracle independent of both stores). Tests that store and delete use instances
outside the sample cohort, so the cohort stays whole for the other tests.
Every member of the :class:`~dicomlab.stores.base.Store` protocol is checked
on the folder store, Orthanc and a Google store (over the local double of the
Healthcare API's DICOMweb service).
"""

from __future__ import annotations

import inspect
import io
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import requests
from PIL import Image
from pydicom.data import get_testdata_file
from typing_extensions import get_protocol_members

from dicomlab.backends import google_store
from dicomlab.errors import InvalidIdentifierError, InvalidRequestError, NotFoundError
from dicomlab.samples.sample import seed_sample_store
from dicomlab.stores.base import HealthcareAccess, InstanceRef, JsonSource, Store
from dicomlab.stores.cache import RenderCache
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.folder import FolderStore
from dicomlab.stores.paths import json_uid
from tests.support.google_dicomweb import STORE, Double, google_dicomweb
from tests.support.orthanc import OrthancServer


@pytest.fixture(scope="module")
def oracle(sample_files: list[Path]) -> pd.DataFrame:
    """The cohort's instances read straight from the files."""
    rows = []
    for path in sample_files:
        ds = pydicom.dcmread(path)
        rows.append(
            {
                "StudyInstanceUID": ds.StudyInstanceUID,
                "SeriesInstanceUID": ds.SeriesInstanceUID,
                "SOPInstanceUID": ds.SOPInstanceUID,
                "PatientID": ds.PatientID,
                "StudyDate": ds.StudyDate,
                "Modality": ds.Modality,
                "pixels": "PixelData" in ds,
                "path": path,
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module", params=["folder", "orthanc"])
def store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sample_files: list[Path],
) -> Iterator[FolderStore | DICOMwebStore]:
    """The sample cohort in a folder store, or in Orthanc (through our STOW)."""
    cache = RenderCache(tmp_path_factory.mktemp("cache"))
    if request.param == "folder":
        folder = tmp_path_factory.mktemp("store")
        seed_sample_store(folder)
        yield FolderStore(folder, cache=cache)
        return
    orthanc: OrthancServer = request.getfixturevalue("orthanc")
    server = DICOMwebStore(orthanc.dicomweb_url, cache=cache)
    result = server.store_files(sample_files)
    assert result.counter == {"success": len(sample_files), "failure": 0}, result.failures
    yield server


def _uids(df: pd.DataFrame, column: str = "SOPInstanceUID") -> set[str]:
    return set(df[column]) if len(df) else set()


def _ref(row: pd.Series) -> InstanceRef:
    return InstanceRef(row.StudyInstanceUID, row.SeriesInstanceUID, row.SOPInstanceUID)


@pytest.mark.parametrize(
    "filters",
    [{"PatientID": "77654033"}, {"PatientID": "98890234"}, {"Modality": "MR"}, {"Modality": "CT"}],
)
def test_search_instances_by_keyword(store, oracle, filters):
    expected = oracle
    for keyword, value in filters.items():
        expected = expected[expected[keyword] == value]
    assert len(expected) > 0
    assert _uids(store.search_instances(**filters)) == _uids(expected)


def test_search_by_study_date_range(store, oracle):
    inside = oracle[oracle.StudyDate.between("19970101", "20041231")]
    assert 0 < len(inside) < len(oracle)
    assert _uids(store.search_instances(StudyDate="19970101-20041231")) == _uids(inside)
    studies = store.search_studies(StudyDate="19970101-20041231")
    assert _uids(studies, "StudyInstanceUID") == _uids(inside, "StudyInstanceUID")
    later = oracle[oracle.StudyDate >= "20030101"]
    assert _uids(store.search_instances(StudyDate="20030101-")) == _uids(later)


def test_search_results_are_typed(store, oracle):
    studies = store.search_studies(PatientID="77654033")
    assert pd.api.types.is_datetime64_any_dtype(studies["StudyDate"])
    expected = oracle[oracle.PatientID == "77654033"]
    assert set(studies.StudyDate.dt.strftime("%Y%m%d")) == set(expected.StudyDate)
    series = store.search_series(Modality="MR")
    assert str(series["SeriesNumber"].dtype) == "Int64"


def test_search_with_fields_logs_no_warning(store, oracle, caplog):
    with caplog.at_level(logging.WARNING):
        found = store.search_instances(fields=["Rows"], PatientID="77654033")
    assert _uids(found) == _uids(oracle[oracle.PatientID == "77654033"])
    assert "Rows" in found.columns
    assert not caplog.records, [r.getMessage() for r in caplog.records]


@pytest.fixture(scope="module")
def folder_store(tmp_path_factory: pytest.TempPathFactory) -> FolderStore:
    folder = tmp_path_factory.mktemp("folder-filters")
    seed_sample_store(folder)
    return FolderStore(folder)


@pytest.mark.parametrize(
    ("level", "filters", "named"),
    [
        ("studies", {"StudyDate": "2001-01-01"}, "not a valid value for value representation DA"),
        ("instances", {"PatientID": ""}, '"PatientID" (empty value)'),
        ("studies", {"Modality": "CT"}, '"Modality" (queries based on this attribute'),
    ],
)
def test_a_filter_the_folder_store_cannot_apply_is_refused_not_dropped(
    folder_store, caplog, level, filters, named
):
    # The file client would skip it with a warning and answer every instance of every patient.
    search = getattr(folder_store, f"search_{level}")
    with caplog.at_level(logging.WARNING), pytest.raises(InvalidRequestError) as caught:
        search(**filters)
    assert named in str(caught.value) and f"in a search of {level}" in str(caught.value)
    assert not caplog.records  # said once, in the error


@pytest.mark.parametrize("key", ["PatientId", "patientID", "Modality.Nonsense", "0010002"])
def test_a_filter_on_no_dicom_attribute_is_refused_not_ignored(store, key):
    # Orthanc and the file client both ignore it, and would answer every patient's instances.
    with pytest.raises(InvalidRequestError, match=f"search filter '{re.escape(key)}' is not"):
        store.search_instances(**{key: "77654033"})


def test_frames_not_in_a_list_are_refused_by_name(store, oracle):
    with pytest.raises(InvalidIdentifierError, match=r"such as \[1\]: not 1"):
        store.fetch_frames(_ref(oracle.iloc[0]), 1)


def test_a_frame_past_the_last_is_not_found_in_a_folder(folder_store, oracle):
    # Not "the file could not be read": the file is fine, the frame is not in it.
    with pytest.raises(NotFoundError, match=r"frames \[99\] of instance .*fewer frames"):
        folder_store.fetch_frames(_ref(oracle.iloc[0]), [99])


@pytest.mark.parametrize("frames", [[99], [1, 99]])
def test_a_frame_past_the_last_is_not_found_naming_it_and_the_count(store, oracle, frames):
    row = oracle[oracle.pixels].iloc[0]
    count = int(pydicom.dcmread(row.path, stop_before_pixels=True).get("NumberOfFrames", 1) or 1)
    message = rf"frames \[99\] of instance {re.escape(row.SOPInstanceUID)} .*it has {count}\b"
    with pytest.raises(NotFoundError, match=message):
        store.fetch_frames(_ref(row), frames)


def test_search_limit(store, oracle):
    assert len(store.search_instances(limit=5)) == 5
    assert len(store.search_series(Modality="CT", limit=1)) == 1
    assert oracle.StudyInstanceUID.nunique() > 2
    assert len(store.search_studies(limit=2)) == 2


def test_metadata_at_each_level(store, oracle):
    row = oracle[oracle.Modality == "MR"].iloc[0]
    study = store.fetch_metadata(row.StudyInstanceUID)
    expected = oracle[oracle.StudyInstanceUID == row.StudyInstanceUID]
    assert {item["00080018"]["Value"][0] for item in study} == _uids(expected)
    series = store.fetch_metadata(row.StudyInstanceUID, row.SeriesInstanceUID)
    assert len(series) == (oracle.SeriesInstanceUID == row.SeriesInstanceUID).sum()
    (instance,) = store.fetch_metadata(*_ref(row).__dict__.values())
    assert instance["00080018"]["Value"] == [row.SOPInstanceUID]
    assert instance["00100020"]["Value"] == [row.PatientID]
    assert "7FE00010" not in instance or "Value" not in instance["7FE00010"]


def test_frames_are_the_stored_pixels(store, oracle):
    row = oracle[oracle.pixels & (oracle.Modality == "MR")].iloc[0]
    ds = pydicom.dcmread(row.path)
    (frame,) = store.fetch_frames(_ref(row), [1])
    assert frame == ds.PixelData[: len(frame)] and len(frame) == ds.Rows * ds.Columns * 2
    with pytest.raises(InvalidIdentifierError):
        store.fetch_frames(_ref(row), [0])


@pytest.mark.parametrize("media_type, fmt", [("image/jpeg", "JPEG"), ("image/png", "PNG")])
def test_rendered(store, oracle, media_type, fmt):
    row = oracle[oracle.pixels & (oracle.Modality == "CT")].iloc[0]
    image = Image.open(io.BytesIO(store.fetch_rendered(_ref(row), media_type=media_type)))
    assert image.format == fmt and image.size == (16, 16)
    small = store.fetch_rendered(_ref(row), media_type=media_type, viewport=64)
    assert Image.open(io.BytesIO(small)).size == (64, 64)


def test_fetch_thumbnails_one_per_row_in_order(store, oracle):
    rows = oracle[oracle.PatientID == "98890234"].sort_values("SOPInstanceUID", ascending=False)
    images = store.fetch_thumbnails(rows, size=32, progress=False)
    assert len(images) == len(rows)
    for image, (_, row) in zip(images, rows.iterrows(), strict=True):
        pixels = np.asarray(Image.open(io.BytesIO(image)).convert("L"))
        assert pixels.shape == (32, 32)
        # A real thumbnail of this cohort has contrast; a placeholder is flat grey with text.
        expected = Image.open(io.BytesIO(store.fetch_thumbnail(_ref(row), size=32)))
        assert pixels.std() > 0 and expected.size == (32, 32)


def test_instances_without_pixels_get_a_labelled_placeholder(store, oracle):
    row = oracle[~oracle.pixels & (oracle.Modality == "CT")].head(1)
    unknown = row.assign(SOPInstanceUID="1.2.3.999")
    images = store.fetch_thumbnails(pd.concat([row, unknown]), size=64, progress=False)
    for image in images:
        pixels = np.asarray(Image.open(io.BytesIO(image)).convert("L"))
        assert pixels.shape == (64, 64)
        # Background grey 224 with a darker text: the placeholder, not a blank tile.
        assert np.median(pixels) > 200 and pixels.min() < 128
    assert store.fetch_thumbnails(unknown, placeholder=False, progress=False) == [None]


def test_thumbnails_come_from_the_cache_the_second_time(store, oracle, monkeypatch):
    row = oracle[oracle.pixels].iloc[0]
    first = store.fetch_thumbnail(_ref(row), size=48, media_type="image/jpeg")

    def fail(*args, **kwargs):
        raise AssertionError("rendered again instead of read from the cache")

    monkeypatch.setattr(store, "_render_thumbnail", fail)
    assert store.fetch_thumbnail(_ref(row), size=48, media_type="image/jpeg") == first
    with pytest.raises(AssertionError):
        store.fetch_thumbnail(_ref(row), size=49, media_type="image/jpeg")


def test_download_writes_each_instance_once_and_never_overwrites(store, oracle, tmp_path):
    patient = oracle[oracle.PatientID == "77654033"]
    series_rows = patient.drop_duplicates("SeriesInstanceUID")[
        ["StudyInstanceUID", "SeriesInstanceUID"]
    ]
    result = store.download(series_rows, tmp_path, progress=False)
    assert result.counter == {"written": len(patient), "skipped": 0, "repaired": 0, "failure": 0}
    assert result.complete
    written = {pydicom.dcmread(p).SOPInstanceUID for p in result.written}
    assert written == _uids(patient)
    # A good file the researcher edited (same instance, whole) is never replaced.
    first = result.written[0]
    edited = pydicom.dcmread(first)
    edited.StudyDescription = "changed by the researcher"
    edited.save_as(first)
    kept = first.read_bytes()
    again = store.download(patient, tmp_path, progress=False)
    assert again.counter == {"written": 0, "skipped": len(patient), "repaired": 0, "failure": 0}
    assert first.read_bytes() == kept
    replaced = store.download(patient.head(1), tmp_path, overwrite=True, progress=False)
    assert replaced.counter["written"] == 1


def test_download_repairs_files_that_fail_the_check(store, oracle, tmp_path):
    images = oracle[oracle.pixels].head(3)
    first = store.download(images, tmp_path, progress=False)
    assert first.counter["written"] == 3
    cut, junk, other = first.written
    good = {p: p.read_bytes() for p in first.written}
    cut.write_bytes(good[cut][: len(good[cut]) // 2])  # a short file from an interrupted download
    junk.write_bytes(b"<html>proxy error</html>")
    other.write_bytes(good[cut])  # another instance under this instance's name
    again = store.download(images, tmp_path, progress=False)
    assert again.counter == {"written": 0, "skipped": 0, "repaired": 3, "failure": 0}
    assert sorted(again.repaired) == sorted(first.written)
    for path, row in zip(first.written, images.itertuples(), strict=True):
        ds = pydicom.dcmread(path)
        assert ds.SOPInstanceUID == path.stem == row.SOPInstanceUID
        assert ds.PixelData == pydicom.dcmread(row.path).PixelData
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_iter_json_gives_every_instance_as_dicom_json(store, oracle):
    items = list(store.iter_json())
    assert all(item.json is not None and item.error is None for item in items)
    assert {json_uid(item.json, "instance") for item in items} == _uids(oracle)
    row = oracle[oracle.Modality == "MR"].iloc[0]
    (json,) = [i.json for i in items if json_uid(i.json, "instance") == row.SOPInstanceUID]
    assert json["00100020"]["Value"] == [row.PatientID]
    assert "7FE00010" not in json or "Value" not in json["7FE00010"]  # no pixels in metadata


def test_store_then_delete_an_instance_series_and_study(store):
    path = get_testdata_file("CT_small.dcm", download=False)
    ds = pydicom.dcmread(path)
    assert store.search_instances(SOPInstanceUID=ds.SOPInstanceUID).empty
    result = store.store_files([path])
    assert result.stored == [ds.SOPInstanceUID]
    ref = InstanceRef(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert store.fetch_instance(ref).PatientName == ds.PatientName
    store.delete(ds.StudyInstanceUID, ds.SeriesInstanceUID)
    assert store.search_instances(StudyInstanceUID=ds.StudyInstanceUID).empty
    with pytest.raises(NotFoundError):
        store.fetch_instance(ref)
    with pytest.raises(NotFoundError):
        store.delete(ds.StudyInstanceUID)


def test_store_json_with_a_jpeg_then_delete(store):
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))).save(buffer, "JPEG")
    uids = {"00080018": "1.2.826.0.1.3680043.8.498.1", "0020000D": "1.2.826.0.1.3680043.8.498.2"}
    uids["0020000E"] = "1.2.826.0.1.3680043.8.498.3"
    metadata = {tag: {"vr": "UI", "Value": [uid]} for tag, uid in uids.items()}
    metadata["00100020"] = {"vr": "LO", "Value": ["JSON-PATIENT"]}
    metadata["00080060"] = {"vr": "CS", "Value": ["OT"]}
    result = store.store_json(metadata, buffer.getvalue())
    assert result.counter == {"success": 1, "failure": 0}, result.failures
    found = store.search_instances(PatientID="JSON-PATIENT")
    assert list(found.SOPInstanceUID) == [uids["00080018"]]
    ref = InstanceRef(uids["0020000D"], uids["0020000E"], uids["00080018"])
    pixels = store.fetch_instance(ref).pixel_array
    assert pixels.shape == (32, 32) and pixels[:, -1].mean() > pixels[:, 0].mean() + 100
    store.delete(*ref.__dict__.values())
    assert store.search_instances(PatientID="JSON-PATIENT").empty


@pytest.mark.parametrize(
    "uids, bad",
    [(("1.2.x",), "1.2.x"), (("1.2", "01.2"), "01.2"), (("1.2", None, "1.2.3"), "1.2.3")],
)
def test_delete_refuses_bad_uids_before_asking(store, uids, bad):
    with pytest.raises(InvalidIdentifierError) as info:
        store.delete(*uids)
    assert bad in str(info.value)


def test_eight_threads_at_once_get_what_one_thread_gets(store, oracle, tmp_path):
    """Widget callbacks and thread pools call a store from threads other than its own."""
    from concurrent.futures import ThreadPoolExecutor

    images = oracle[oracle.pixels].sort_values("SOPInstanceUID").head(8).reset_index(drop=True)
    start = threading.Barrier(len(images))

    def work(index: int) -> dict[str, object]:
        row = images.iloc[index]
        ref = _ref(row)
        start.wait(timeout=30)  # all eight call in together
        return {
            "study": sorted(_uids(store.search_instances(StudyInstanceUID=ref.study))),
            "series": sorted(_uids(store.search_series(), "SeriesInstanceUID")),
            "metadata": store.fetch_metadata(ref.study, ref.series, ref.instance),
            "frames": store.fetch_frames(ref, [1]),
            "thumbnail": store.fetch_thumbnail(ref, size=41, media_type="image/png"),
            "download": store.download(
                images.iloc[[index]], tmp_path / f"t{index}", progress=False
            ).counter,
        }

    with ThreadPoolExecutor(len(images)) as pool:
        together = list(pool.map(work, range(len(images))))
    start = threading.Barrier(1)
    alone = [work(index) for index in range(len(images))]
    assert together == [
        {**one, "download": {"written": 1, "skipped": 0, "repaired": 0, "failure": 0}}
        for one in alone
    ]
    for one in alone:
        assert one["download"] == {"written": 0, "skipped": 1, "repaired": 0, "failure": 0}


# ---- the protocol: every store has every member ---------------------------------------------


@pytest.fixture
def google_double() -> Iterator[tuple[str, Double]]:
    with google_dicomweb() as double:
        yield double


@pytest.fixture(params=["folder", "orthanc", "google"])
def each_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store of each kind, as connect() builds it (contents do not matter here)."""
    if request.param == "folder":
        seed_sample_store(tmp_path / "store")
        return FolderStore(tmp_path / "store", cache=tmp_path / "cache")
    if request.param == "orthanc":
        orthanc: OrthancServer = request.getfixturevalue("orthanc")
        return DICOMwebStore(orthanc.dicomweb_url, cache=tmp_path / "cache")
    url, _ = request.getfixturevalue("google_double")
    return google_store(url, requests.Session(), cache=tmp_path / "cache")


def _protocol_members() -> list[str]:
    members = sorted(get_protocol_members(Store))
    assert {"fetch_instance", "delete", "thumbnail_concurrency", "cache"} <= set(members)
    return members


def test_every_store_has_every_protocol_member_with_its_parameters(each_store):
    assert isinstance(each_store, Store) and isinstance(each_store, JsonSource)
    for name in _protocol_members():
        assert hasattr(each_store, name), f"{type(each_store).__name__} lacks {name}"
        declared = inspect.getattr_static(Store, name, None)
        if not inspect.isfunction(declared):
            continue
        member = getattr(each_store, name)
        assert callable(member), name
        wanted = list(inspect.signature(declared).parameters)[1:]  # without self
        assert list(inspect.signature(member).parameters) == wanted, name


def test_capabilities_are_declared_values(each_store, tmp_path):
    assert isinstance(each_store.thumbnail_concurrency, int)
    assert each_store.thumbnail_concurrency >= 1
    assert isinstance(each_store.lists_rows, bool)
    assert isinstance(each_store.cache, RenderCache)
    assert each_store.cache.root == tmp_path / "cache"
    access = each_store.healthcare_access()
    if "/projects/" in each_store.url:
        assert isinstance(access, HealthcareAccess)
        assert access.name == STORE and access.api_root.endswith("/v1")
        assert access.session is vars(each_store)["session"]
    else:
        assert access is None
