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
from dicomlab.stores.dicomweb import DICOMwebStore
from tests.integration.faulty_proxy import FaultyProxy
from tests.integration.orthanc import OrthancServer

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
