"""A DICOMweb store's metadata: series fetched in parallel, handed out in order, checked.

Against the real Orthanc of the integration tests; a failing or mixed-up series
is injected by overriding ``fetch_metadata`` for one series only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from dicomlab.errors import RemoteError
from dicomlab.stores.bulk import imap_bounded
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.profiles import ORTHANC


def _store(orthanc, concurrency: int, **faults: Any) -> DICOMwebStore:
    class Faulty(DICOMwebStore):
        def fetch_metadata(self, study, series=None, instance=None):
            found = super().fetch_metadata(study, series, instance)
            if series == faults.get("fail"):
                raise RemoteError("DICOMweb request failed: injected", service="DICOMweb")
            if series == faults.get("mix"):
                other = faults["other"]
                found[0] = {**found[0], "0020000E": {"vr": "UI", "Value": [other]}}
            return found

    return Faulty(orthanc.dicomweb_url, profile=replace(ORTHANC, concurrency=concurrency))


def _sources(items) -> list[tuple[str, bool]]:
    return [(i.source, i.json is not None) for i in items]


def test_parallel_series_come_in_the_serial_order(orthanc, loaded, sample_files):
    serial = list(_store(orthanc, 1).iter_json())
    parallel = list(_store(orthanc, 8).iter_json())
    assert len(serial) == len(sample_files) and _sources(parallel) == _sources(serial)
    assert [i.json for i in parallel] == [i.json for i in serial]


def test_a_series_that_fails_is_one_transport_failure_in_its_place(orthanc, loaded):
    series = list(loaded.iter_series())
    study, failing = series[len(series) // 2]
    items = list(_store(orthanc, 8, fail=failing).iter_json())
    failed = [i for i in items if i.error is not None]
    assert [i.source for i in failed] == [f"studies/{study}/series/{failing}/metadata"]
    assert failed[0].transport and "injected" in failed[0].error
    every = _sources(_store(orthanc, 1).iter_json())
    kept = [s for s in every if f"/series/{failing}/" not in s[0]]
    assert _sources(i for i in items if i.error is None) == kept


def test_an_instance_of_another_series_is_not_read_as_this_one(orthanc, loaded):
    series = list(loaded.iter_series())
    (_, mixed), (_, other) = series[0], series[1]
    items = list(_store(orthanc, 8, mix=mixed, other=other).iter_json())
    failed = [i for i in items if i.error is not None]
    assert len(failed) == 1 and failed[0].transport
    assert f"/series/{mixed}/" in failed[0].source and f"series {other}" in failed[0].error


def test_count_instances_sums_the_series_and_matches_the_instances(loaded, sample_files):
    listed = sum(1 for _ in loaded._pages("instances", fields=["00080018"]))
    assert loaded.count_instances() == listed == len(sample_files)


def test_imap_bounded_keeps_order_bounds_the_calls_and_raises_in_turn():
    running, most, lock = [0], [0], threading.Lock()

    def slow(x: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01 * (x % 3))
        with lock:
            running[0] -= 1
        if x == 7:
            raise ValueError("seven")
        return x * x

    results = imap_bounded(slow, iter(range(10)), workers=3)
    assert [next(results) for _ in range(7)] == [x * x for x in range(7)]
    with pytest.raises(ValueError, match="seven"):
        next(results)
    assert most[0] <= 3
