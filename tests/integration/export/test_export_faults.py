"""Exports through a proxy that drops, delays and refuses requests, and through outages.

The proxy (``proxy`` in conftest.py) sits in front of the real Orthanc. An
export through faults its retries outlast still has every instance once; an
outage that outlasts them fails the export with the table as it was, or with
``allow_partial=True`` exports the rest and says it is partial.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlparse

import pytest

import dicomlab
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.profiles import ORTHANC
from tests.support.faulty_proxy import FaultyProxy


def test_export_through_faults_has_every_instance_once(proxy, orthanc, tmp_path, sample_files):
    store = DICOMwebStore(
        proxy.url_for(orthanc.dicomweb_url), backoff=0.01, max_attempts=8, timeout=(2, 10)
    )
    lab = dicomlab.connect(store=store, home=tmp_path)
    result = lab.export_metadata(progress=False)
    assert result.counter == {"success": len(sample_files), "failure": 0}
    uids = lab.sql("SELECT SOPInstanceUID FROM dicom_metadata").SOPInstanceUID
    assert uids.is_unique and len(uids) == len(sample_files)
    assert proxy.seen["drop"] >= 1


# ---- an outage: the store cannot be read, so the export fails and the table stays ----------


def _proxied_export(orthanc, schedule, home, **options):
    """Export through a proxy with ``schedule`` (one retry: an outage outlasts it).

    One request at a time, so that the schedule meets the requests in their
    order: a dropped request's retry is the very next request.
    """
    url = urlparse(orthanc.dicomweb_url)
    with FaultyProxy((url.hostname, url.port), schedule) as proxy:
        store = DICOMwebStore(
            proxy.url_for(orthanc.dicomweb_url), backoff=0.01, max_attempts=2, timeout=(2, 5),
            profile=replace(ORTHANC, concurrency=1),
        )  # fmt: skip
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
