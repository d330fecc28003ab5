"""The bad-input catalogue for DICOM files exported from a folder store.

A file that is not DICOM, cut short or missing a UID is one failure of the
export, which goes on; a value pydicom refuses is kept in ``OtherElements``
or listed as dropped. The store's files are never touched
(see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import struct
import warnings

import pydicom
import pytest
from pydicom.dataelem import DataElement

from dicomlab.export.pipeline import export_store_metadata
from dicomlab.stores.folder import FolderStore
from dicomlab.warehouses.duckdb import DuckDBWarehouse
from tests.support.catalogue import snapshot, two_good_files


def _base() -> pydicom.Dataset:
    from dicomlab.samples.sample import sample_files

    return pydicom.dcmread(sample_files()[2])


def _base_bytes() -> bytes:
    from dicomlab.samples.sample import sample_files

    return sample_files()[2].read_bytes()


def _offset(raw: bytes, tag: int, vr: str) -> int:
    """Where the explicit-VR little-endian element ``tag`` starts in ``raw``."""
    at = raw.find(struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode(), 132)
    assert at > 0
    return at


def _saved(ds: pydicom.Dataset) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def _without_sop() -> bytes:
    ds = _base()
    del ds.SOPInstanceUID
    return _saved(ds)


def _huge_private() -> bytes:
    ds = _base()
    ds.private_block(0x0009, "ACME", create=True).add_new(0x01, "UT", "x" * 2_000_000)
    return _saved(ds)


def _huge_standard() -> bytes:
    ds = _base()
    ds.ImageComments = "x" * 2_000_000
    return _saved(ds)


def _patched(ds: pydicom.Dataset, marker: bytes, replacement: bytes) -> bytes:
    """``ds`` saved, with the one occurrence of ``marker`` replaced (a value pydicom refuses)."""
    raw = _saved(ds)
    assert raw.count(marker) == 1 and len(marker) == len(replacement)
    return raw.replace(marker, replacement)


def _bad_date() -> bytes:
    ds = _base()
    ds.StudyDate = "19991231"
    return _patched(ds, b"19991231", b"notadate")


def _vr_mismatch() -> bytes:
    ds = _base()
    ds[0x00080020] = DataElement(0x00080020, "LO", "20010101")
    return _saved(ds)


def _two_modalities() -> bytes:
    ds = _base()
    ds.Modality = ["CT", "MR"]
    return _saved(ds)


def _ds_not_a_number() -> bytes:
    ds = _base()
    ds.SliceThickness = "9.25"
    return _patched(ds, b"9.25", b"x.yz")


FAILED = "failure"


@pytest.mark.parametrize(
    ("make", "expect", "detail"),
    [
        pytest.param(lambda: b"", FAILED, "not readable as DICOM", id="empty-file"),
        pytest.param(
            lambda: b"PatientName,StudyDate\nDoe^John,20010101\n",
            FAILED,
            "not readable as DICOM",
            id="csv-text",
        ),
        pytest.param(lambda: bytes(range(256)) * 16, FAILED, "not readable", id="binary-noise"),
        pytest.param(lambda: b"\0" * 128 + b"DICM", FAILED, "SOPInstanceUID", id="preamble-only"),
        pytest.param(lambda: _base_bytes()[:200], FAILED, "SOPInstanceUID", id="cut-in-file-meta"),
        pytest.param(
            lambda: (raw := _base_bytes())[: _offset(raw, 0x00080018, "UI")],
            FAILED,
            "SOPInstanceUID",
            id="cut-before-sop-uid",
        ),
        pytest.param(
            lambda: (raw := _base_bytes())[: _offset(raw, 0x0020000D, "UI") + 18],
            FAILED,
            "truncated",
            id="cut-inside-study-uid",
        ),
        pytest.param(
            lambda: (raw := _base_bytes())[: _offset(raw, 0x0020000D, "UI")],
            FAILED,
            "StudyInstanceUID",
            id="cut-before-study-uid",
        ),
        pytest.param(_without_sop, FAILED, "SOPInstanceUID", id="missing-sop-uid"),
        pytest.param(_bad_date, ("Tag_00080020", "notadate"), "StudyDate", id="da-not-a-date"),
        pytest.param(_vr_mismatch, ("Tag_00080020", "20010101"), "StudyDate", id="da-as-lo"),
        pytest.param(
            _ds_not_a_number,
            ("Tag_00180050", "x.yz"),
            "SliceThickness",
            id="ds-not-a-number",
        ),
        pytest.param(_two_modalities, ("Tag_00080060", "CT"), "Modality", id="vm-2-for-vm-1"),
        pytest.param(_huge_standard, ("dropped", "ImageComments"), None, id="huge-standard-value"),
        pytest.param(_huge_private, ("kept", "Tag_00091001"), None, id="huge-private-value"),
        pytest.param(
            _huge_private,
            ("dropped", "Tag_00091001"),
            None,
            id="huge-private-value-dropped",
        ),
    ],
)
def test_bad_dicom_file_never_stops_an_export(tmp_path, make, expect, detail):
    store = two_good_files(tmp_path)
    bad = store / "bad.dcm"
    warehouse = DuckDBWarehouse(":memory:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the values we broke on purpose
        bad.write_bytes(make())
        before = snapshot(store)
        result = export_store_metadata(
            FolderStore(store), warehouse, table="t", progress=False, workers=1
        )
    assert snapshot(store) == before  # the store's files are never touched
    assert result.success + result.failure == 3
    assert warehouse.count_rows("t") == result.success
    if expect == FAILED:
        assert result.success == 2
        assert len(result.failures) == 1
        source, reason = result.failures[0]
        assert source == "bad.dcm" and detail in reason
        return
    assert result.success == 3 and result.failures == []
    uid = pydicom.dcmread(bad, stop_before_pixels=True, force=True).SOPInstanceUID
    row = warehouse.run_sql(
        "SELECT * FROM dicom_metadata WHERE SOPInstanceUID = @uid", {"uid": uid}, table="t"
    ).iloc[0]
    kept = row["OtherElements"] if "OtherElements" in row.index else []
    other = {item["Tag"]: list(item["Data"]) for item in kept}
    listed = row["DroppedTags"] if "DroppedTags" in row.index else None
    dropped = [t["TagName"] for t in (listed if listed is not None else [])]
    where, value = expect
    if where == "dropped":
        assert value in dropped and value not in other
    elif where == "kept":  # not fatal: in OtherElements whole, or listed as dropped
        assert value in other or value in dropped
    else:
        assert value in other[where]
        assert result.unparsed[detail] == 1
