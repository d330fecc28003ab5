"""Files without the Part 10 header are instances too: exported, listed, fetched, downloaded.

pydicom ships three: rtstruct.dcm (implicit VR), ExplVR_LitEndNoMeta.dcm
(explicit VR) and no_meta.dcm, whose data set starts one stray byte late
and so is no instance at all.
"""

from __future__ import annotations

import shutil
import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.folder import FolderStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse

BARE = {"rtstruct.dcm": "RTSTRUCT", "ExplVR_LitEndNoMeta.dcm": "RTPLAN"}


@pytest.fixture
def store(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    for name in [*BARE, "no_meta.dcm"]:
        shutil.copy(get_testdata_file(name, download=False), folder / name)
    return FolderStore(folder)


def _bare(name: str) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(name, download=False), force=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_files_without_the_header_are_exported(store, workers):
    warehouse = DuckDBWarehouse(":memory:")
    result = export_store_metadata(store, warehouse, table="t", workers=workers, progress=False)
    assert result.success == 2
    [(source, why)] = result.failures
    assert source == "no_meta.dcm"
    assert "no Part 10 header" in why and "SOPInstanceUID" in why
    rows = warehouse.run_sql("SELECT SOPInstanceUID, Modality FROM t", {}, table="t")
    expected = {(str(_bare(n).SOPInstanceUID), modality) for n, modality in BARE.items()}
    assert set(map(tuple, rows.to_numpy().tolist())) == expected


def test_files_without_the_header_are_searched_fetched_and_downloaded(store, tmp_path):
    rows = store.search_instances()
    assert sorted(rows.SOPInstanceUID) == sorted(str(_bare(n).SOPInstanceUID) for n in BARE)
    for name in BARE:
        bare = _bare(name)
        ref = InstanceRef(bare.StudyInstanceUID, bare.SeriesInstanceUID, bare.SOPInstanceUID)
        fetched = store.fetch_instance(ref)
        assert fetched == bare  # every element, as pydicom reads the file
        syntax = "1.2.840.10008.1.2" if name == "rtstruct.dcm" else "1.2.840.10008.1.2.1"
        assert fetched.file_meta.TransferSyntaxUID == syntax
    result = store.download(rows, tmp_path / "out", progress=False)
    assert result.complete and len(result.written) == 2
    for path in result.written:  # written as Part 10 files: readable without force
        again = pydicom.dcmread(path)
        assert again.file_meta.MediaStorageSOPInstanceUID == again.SOPInstanceUID == path.stem
