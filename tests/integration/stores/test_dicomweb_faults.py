"""Bulk retrieval and export through a proxy that drops, delays and refuses requests.

The proxy sits in front of the real Orthanc; every request meets the next
fault of a cycling schedule. The work must still finish with every instance
exactly once, as it does without the proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import pandas as pd
import pytest

import dicomlab
from dicomlab.errors import InstanceMismatchError, RemoteError
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.dicomweb import DICOMwebStore
from tests.support.faulty_proxy import FaultyProxy
from tests.support.orthanc import OrthancServer

SCHEDULE = ["pass", "503", "pass", "drop", "pass", "429", "delay", "pass", "drop", "pass"]


@pytest.fixture(scope="module")
def loaded(orthanc: OrthancServer, sample_files) -> DICOMwebStore:
    store = DICOMwebStore(orthanc.dicomweb_url)
    assert store.store_files(sample_files).counter["failure"] == 0
    return store


@pytest.fixture
def proxy(orthanc: OrthancServer, loaded) -> Iterator[FaultyProxy]:
    url = urlparse(orthanc.dicomweb_url)
    with FaultyProxy((url.hostname, url.port), SCHEDULE, delay=0.2) as running:
        yield running


def _through(proxy: FaultyProxy, orthanc: OrthancServer) -> DICOMwebStore:
    path = urlparse(orthanc.dicomweb_url).path
    return DICOMwebStore(
        f"http://127.0.0.1:{proxy.port}{path}", backoff=0.01, max_attempts=8, timeout=(2, 10)
    )


def test_thumbnails_through_faults_match_the_direct_ones(proxy, orthanc, loaded):
    hits = loaded.search_instances(fields=["Rows"])
    hits = hits[hits["Rows"].notna()].sort_values("SOPInstanceUID").reset_index(drop=True)
    faulty = _through(proxy, orthanc)
    images = faulty.fetch_thumbnails(hits, size=32, progress=False, workers=4, placeholder=False)
    direct = loaded.fetch_thumbnails(hits, size=32, progress=False, placeholder=False)
    assert len(images) == len(hits) and None not in images
    assert images == direct
    assert proxy.seen["drop"] >= 2 and proxy.seen["503"] >= 1 and proxy.seen["429"] >= 1


def test_export_through_faults_has_every_instance_once(proxy, orthanc, tmp_path, sample_files):
    lab = dicomlab.connect(store=_through(proxy, orthanc), home=tmp_path)
    result = lab.export_metadata(progress=False)
    assert result.counter == {"success": len(sample_files), "failure": 0}
    uids = lab.sql("SELECT SOPInstanceUID FROM dicom_metadata").SOPInstanceUID
    assert uids.is_unique and len(uids) == len(sample_files)
    assert proxy.seen["drop"] >= 1


def test_download_through_faults_writes_each_instance_once(proxy, orthanc, loaded, tmp_path):
    import pydicom

    rows = loaded.search_series()[["StudyInstanceUID", "SeriesInstanceUID"]]
    result = _through(proxy, orthanc).download(rows, tmp_path, progress=False, workers=4)
    assert result.counter["failure"] == 0
    files = sorted(tmp_path.rglob("*.dcm"))
    uids = pd.Series([pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files])
    assert uids.is_unique and len(files) == result.counter["written"] == loaded.count_instances()


# ---- answers that are cut short or name another instance -------------------------------------


def _images(loaded: DICOMwebStore) -> pd.DataFrame:
    """Instances with pixel data, all three UIDs per row, in a stable order."""
    hits = loaded.search_instances(fields=["Rows"])
    hits = hits[hits["Rows"].notna()].sort_values("SOPInstanceUID").reset_index(drop=True)
    return hits[["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]]


def _rewriting(orthanc: OrthancServer, schedule: list[str], **options) -> FaultyProxy:
    url = urlparse(orthanc.dicomweb_url)
    return FaultyProxy((url.hostname, url.port), schedule, **options)


def _files(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_cut_instance_is_never_written_and_a_rerun_completes(orthanc, loaded, tmp_path):
    import pydicom

    rows = _images(loaded).head(6)
    with _rewriting(orthanc, ["pass", "truncate"], cut=3000) as cutting:
        faulty = _through(cutting, orthanc)
        result = faulty.download(rows, tmp_path, progress=False, workers=1)
    assert cutting.seen["truncate"] == 3
    assert result.counter == {"written": 3, "skipped": 0, "repaired": 0, "failure": 3}
    assert not result.complete and "INCOMPLETE" in repr(result)
    for instance, why in result.failures:
        assert "incomplete" in why and instance in why
    assert _files(tmp_path) == sorted(result.written)  # nothing else, no temporary file
    for path in result.written:
        assert pydicom.dcmread(path).SOPInstanceUID == path.stem
    again = loaded.download(rows, tmp_path, progress=False)
    assert again.counter == {"written": 3, "skipped": 3, "repaired": 0, "failure": 0}
    assert again.complete and len(_files(tmp_path)) == 6


def test_a_connection_closed_mid_answer_is_a_remote_error(orthanc, loaded, tmp_path):
    rows = _images(loaded).head(1)
    ref = InstanceRef(*rows.iloc[0])
    with _rewriting(orthanc, ["cut"], cut=3000) as cutting:
        faulty = _through(cutting, orthanc)
        with pytest.raises(RemoteError) as info:
            faulty.fetch_instance(ref)
        result = faulty.download(rows, tmp_path, progress=False)
    assert type(info.value) is RemoteError and info.value.status == 200
    assert "cut short" in str(info.value) and ref.instance in str(info.value)
    assert result.counter["failure"] == 1 and "cut short" in result.failures[0][1]
    assert _files(tmp_path) == []


def test_an_answer_for_another_instance_is_refused(orthanc, loaded, tmp_path):
    rows = _images(loaded).head(2)
    asked, other = InstanceRef(*rows.iloc[0]), InstanceRef(*rows.iloc[1])
    path = urlparse(orthanc.dicomweb_url).path
    other_path = f"{path}/studies/{other.study}/series/{other.series}/instances/{other.instance}"
    with _rewriting(orthanc, ["other"], other_path=other_path) as swapping:
        faulty = _through(swapping, orthanc)
        with pytest.raises(InstanceMismatchError) as info:
            faulty.fetch_instance(asked)
        result = faulty.download(rows.head(1), tmp_path, progress=False)
    assert info.value.asked == asked and info.value.received == other
    assert repr(asked.instance) in str(info.value) and repr(other.instance) in str(info.value)
    assert result.counter["failure"] == 1 and other.instance in result.failures[0][1]
    assert _files(tmp_path) == []


# ---- an outage: the store cannot be read, so the export fails and the table stays ----------


def _proxied_export(orthanc, schedule, home, **options):
    """Export through a proxy with ``schedule`` (one retry: an outage outlasts it)."""
    url = urlparse(orthanc.dicomweb_url)
    with FaultyProxy((url.hostname, url.port), schedule) as proxy:
        store = DICOMwebStore(
            f"http://127.0.0.1:{proxy.port}{url.path}", backoff=0.01, max_attempts=2, timeout=(2, 5)
        )
        lab = dicomlab.connect(store=store, home=home)
        return lab.export_metadata(progress=False, **options), proxy.seen["pass"]


def _table(lab) -> list:
    return lab.sql("SELECT SOPInstanceUID FROM dicom_metadata ORDER BY 1").SOPInstanceUID.tolist()


@pytest.mark.parametrize("disposition", ["WRITE_EMPTY", "WRITE_TRUNCATE", "WRITE_APPEND"])
def test_an_outage_fails_the_export_and_leaves_the_table_as_it_was(
    orthanc, loaded, tmp_path, disposition
):
    from dicomlab.errors import IncompleteReadError

    _, requests = _proxied_export(orthanc, ["pass"], tmp_path / "count")
    home = tmp_path / "home"
    before: list = []
    if disposition != "WRITE_EMPTY":
        lab = dicomlab.connect(store=loaded, home=home)
        lab.export_metadata(progress=False)
        before = _table(lab)
    # Halfway, the server drops a request and its retry (then answers again): one
    # series' metadata cannot be fetched.
    outage = ["pass"] * (requests // 2) + ["drop", "drop"] + ["pass"] * 100
    with pytest.raises(IncompleteReadError, match="allow_partial=True") as caught:
        _proxied_export(orthanc, outage, home, write_disposition=disposition)
    unread = [source for source, _ in caught.value.unread]
    every = [f"studies/{a}/series/{b}/metadata" for a, b in loaded.iter_series()]
    assert len(unread) == 1 and unread[0] in every
    assert unread[0] in str(caught.value) and caught.value.service == "DICOMweb"
    lab = dicomlab.connect(store=loaded, home=home)
    if disposition == "WRITE_EMPTY":
        assert lab.warehouse.count_rows("dicom_metadata") is None
    else:
        assert _table(lab) == before and len(before) == loaded.count_instances()


def test_an_outage_with_allow_partial_exports_the_rest_marked_partial(orthanc, loaded, tmp_path):
    _, requests = _proxied_export(orthanc, ["pass"], tmp_path / "count")
    outage = ["pass"] * (requests // 2) + ["drop", "drop"] + ["pass"] * 100
    home = tmp_path / "home"
    result, _ = _proxied_export(orthanc, outage, home, allow_partial=True)
    missing = set()
    for source, _ in result.unread:
        series = source.split("/")[3]
        missing |= set(loaded.search_instances(SeriesInstanceUID=series).SOPInstanceUID)
    assert result.partial and missing and "PARTIAL" in repr(result)
    assert result.success == loaded.count_instances() - len(missing)
    uids = set(_table(dicomlab.connect(store=loaded, home=home)))
    assert not uids & missing and len(uids) == result.success
