"""A server's instance count comes from its series listing; it only sizes the progress bar.

The reading lists the server's series anyway: asked with each series'
``NumberOfSeriesRelatedInstances``, that listing tells the bar its total before
any metadata is fetched, and the export makes no search of its own to count.
A server that does not give the number costs nothing: the bar ends at what was
read.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pytest
import tqdm.auto

from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores import dicomweb
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.profiles import ORTHANC
from dicomlab.warehouses.duckdb import DuckDBWarehouse


class _Watched(tqdm.auto.tqdm):  # type: ignore[misc]
    """A progress bar that keeps the total it had at each update."""

    totals: ClassVar[list[int | None]] = []

    def update(self, n: float | None = 1) -> bool | None:
        _Watched.totals.append(self.total)
        return super().update(n)


@pytest.fixture
def watched(monkeypatch):
    """The totals the export's bar had at each update, and the series searches made."""
    _Watched.totals = []
    searches: list[list[str] | None] = []
    pages = DICOMwebStore._pages

    def counted_pages(store, level, *args, **kwargs):
        if level == "series":
            searches.append(kwargs.get("fields"))
        return pages(store, level, *args, **kwargs)

    def no_count(store):
        raise AssertionError("the export searched the server to count it")

    monkeypatch.setattr(tqdm.auto, "tqdm", _Watched)
    monkeypatch.setattr(DICOMwebStore, "_pages", counted_pages)
    monkeypatch.setattr(DICOMwebStore, "count_instances", no_count)
    return _Watched.totals, searches


def _export(store, tmp_path, **options):
    warehouse = DuckDBWarehouse(tmp_path / "lab.duckdb")
    return export_store_metadata(store, warehouse, table="t", **options), warehouse


@pytest.mark.parametrize("concurrency", [1, 8])
def test_the_listing_gives_the_bar_its_total_before_any_row(
    orthanc, loaded, tmp_path, watched, concurrency
):
    totals, searches = watched
    store = DICOMwebStore(orthanc.dicomweb_url, profile=replace(ORTHANC, concurrency=concurrency))
    result, warehouse = _export(store, tmp_path, progress=True)
    expected = len(loaded.search_instances())
    assert result.success == expected == warehouse.count_rows("t") and result.failure == 0
    assert totals and set(totals) == {expected}  # from the first row on
    assert searches == [["0020000D", "00201209"]]  # one series search: the listing


def test_a_listing_without_counts_costs_nothing(
    orthanc, loaded, tmp_path, watched, monkeypatch, capsys
):
    totals, searches = watched
    monkeypatch.setattr(dicomweb, "_related_instances", lambda item: None)
    result, _ = _export(DICOMwebStore(orthanc.dicomweb_url), tmp_path, progress=True)
    assert result.success == len(loaded.search_instances()) and result.failure == 0
    assert set(totals) == {None} and len(searches) == 1
    # No total while it ran; once all is read, what was read is the total.
    shown = capsys.readouterr().err.replace("\u2007", " ")
    assert "100%" in shown and f"{result.success}/{result.success}" in shown, shown[-500:]


def test_iter_json_tells_the_count_before_the_first_item(orthanc, loaded):
    told: list[int] = []
    items = DICOMwebStore(orthanc.dicomweb_url).iter_json(counted=told.append)
    first = next(items)
    assert told == [len(loaded.search_instances())] and first.json is not None
    assert 1 + sum(1 for _ in items) == told[0] and told == [told[0]]
    assert len(list(DICOMwebStore(orthanc.dicomweb_url).iter_json())) == told[0]


def test_a_folder_is_counted_first(sample_files, tmp_path, monkeypatch):
    import shutil

    from dicomlab.stores.folder import FolderStore

    _Watched.totals = []
    monkeypatch.setattr(tqdm.auto, "tqdm", _Watched)
    folder = tmp_path / "images"
    folder.mkdir()
    for number, path in enumerate(sample_files):
        shutil.copyfile(path, folder / f"{number}.dcm")
    store = FolderStore(folder)
    result, _ = _export(store, tmp_path, progress=True, workers=1)
    assert set(_Watched.totals) == {store.count_instances()} == {result.success}
