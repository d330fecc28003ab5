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
