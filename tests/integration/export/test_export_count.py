"""A server's instance count is asked while its reading starts; it only sizes the progress bar.

The count is a search of its own (a QIDO request). A server that takes several
requests at once is counted in a thread, so that the reading does not wait for
it; one that takes one request at a time is counted first, as before. Either
way every instance is exported, and a count that fails costs nothing: the bar
ends at what was read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from dicomlab.errors import RemoteError
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.profiles import ORTHANC
from dicomlab.warehouses.duckdb import DuckDBWarehouse


class _Timeline:
    """When the count ended and when the first series' metadata was asked for."""

    def __init__(self, monkeypatch, *, count_delay: float = 0.0, count_error: bool = False):
        self.count_ended: float | None = None
        self.first_fetch: float | None = None
        self.lock = threading.Lock()
        count, fetch = DICOMwebStore.count_instances, DICOMwebStore.fetch_metadata

        def slow_count(store):
            time.sleep(count_delay)
            try:
                if count_error:
                    raise RemoteError("the count search failed")
                return count(store)
            finally:
                self.count_ended = time.monotonic()

        def watched_fetch(store, *args, **kwargs):
            with self.lock:
                self.first_fetch = self.first_fetch or time.monotonic()
            return fetch(store, *args, **kwargs)

        monkeypatch.setattr(DICOMwebStore, "count_instances", slow_count)
        monkeypatch.setattr(DICOMwebStore, "fetch_metadata", watched_fetch)


def _export(store, tmp_path, **options):
    warehouse = DuckDBWarehouse(tmp_path / "lab.duckdb")
    return export_store_metadata(store, warehouse, table="t", **options), warehouse


def test_the_reading_does_not_wait_for_a_slow_count(orthanc, loaded, tmp_path, monkeypatch):
    timeline = _Timeline(monkeypatch, count_delay=1.0)
    result, warehouse = _export(DICOMwebStore(orthanc.dicomweb_url), tmp_path, progress=False)
    assert result.success == len(loaded.search_instances()) and result.failure == 0
    assert timeline.first_fetch is not None
    # The first metadata request went out while the count was still asleep.
    assert timeline.count_ended is None or timeline.first_fetch < timeline.count_ended
    assert warehouse.count_rows("t") == result.success


def test_a_count_that_fails_costs_nothing(orthanc, loaded, tmp_path, monkeypatch, capsys):
    _Timeline(monkeypatch, count_error=True)
    result, _ = _export(DICOMwebStore(orthanc.dicomweb_url), tmp_path, progress=True)
    assert result.success == len(loaded.search_instances()) and result.failure == 0
    # The bar had no total while it ran; once all is read, what was read is the total.
    shown = capsys.readouterr().err.replace("\u2007", " ")
    assert "100%" in shown and f"{result.success}/{result.success}" in shown, shown[-500:]


def test_a_store_taking_one_request_at_a_time_is_counted_first(
    orthanc, loaded, tmp_path, monkeypatch
):
    timeline = _Timeline(monkeypatch, count_delay=0.2)
    store = DICOMwebStore(orthanc.dicomweb_url, profile=replace(ORTHANC, concurrency=1))
    result, _ = _export(store, tmp_path, progress=False)
    assert result.failure == 0 and result.success == len(loaded.search_instances())
    assert timeline.count_ended is not None and timeline.first_fetch is not None
    assert timeline.count_ended < timeline.first_fetch


def test_the_progress_bar_gets_the_count(orthanc, loaded, tmp_path, capsys):
    result, _ = _export(DICOMwebStore(orthanc.dicomweb_url), tmp_path, progress=True)
    shown = capsys.readouterr().err.replace("\u2007", " ")
    assert f"{result.success}/{result.success}" in shown, shown[-500:]
