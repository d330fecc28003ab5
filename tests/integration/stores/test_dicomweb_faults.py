"""Bulk retrieval through a proxy that drops, delays, refuses, cuts and swaps answers.

The proxy sits in front of the real Orthanc; every request meets the next
fault of a cycling schedule. Thumbnails and downloads must still finish with
every instance exactly once, as they do without the proxy; an answer cut short
or naming another instance is never written. (Exports through the same
faults: ``tests/integration/export/test_export_faults.py``.)
"""

from __future__ import annotations

from urllib.parse import urlparse

import pandas as pd
import pytest

from dicomlab.errors import InstanceMismatchError, RemoteError
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.dicomweb import DICOMwebStore
from tests.support.faulty_proxy import FaultyProxy
from tests.support.orthanc import OrthancServer


def _through(proxy: FaultyProxy, orthanc: OrthancServer) -> DICOMwebStore:
    """A store on ``orthanc`` through ``proxy``, with retries enough to outlast its faults."""
    url = proxy.url_for(orthanc.dicomweb_url)
    return DICOMwebStore(url, backoff=0.01, max_attempts=8, timeout=(2, 10))


def test_thumbnails_through_faults_match_the_direct_ones(proxy, orthanc, loaded):
    hits = loaded.search_instances(fields=["Rows"])
    hits = hits[hits["Rows"].notna()].sort_values("SOPInstanceUID").reset_index(drop=True)
    faulty = _through(proxy, orthanc)
    images = faulty.fetch_thumbnails(hits, size=32, progress=False, workers=4, placeholder=False)
    direct = loaded.fetch_thumbnails(hits, size=32, progress=False, placeholder=False)
    assert len(images) == len(hits) and None not in images
    assert images == direct
    assert proxy.seen["drop"] >= 2 and proxy.seen["503"] >= 1 and proxy.seen["429"] >= 1


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
