"""Compressed images in a folder store: thumbnails and frames are the images, not placeholders.

Clinical archives hold mostly compressed pixel data. The folder store gets one
file of each compressed transfer syntax in pydicom's test data (one per
SOPInstanceUID, under fresh UIDs), and every thumbnail must be exactly what the
renderer makes of that file, every frame exactly what pydicom decodes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.pixels import pixel_array
from pydicom.uid import UID, generate_uid

from dicomlab.core.render import render_dataset
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.folder import FolderStore

ROOT = Path(pydicom.data.__file__).parent / "test_files"
NEEDED = ("JPEG-LS Lossless", "JPEG-LS Lossy", "JPEG Extended", "JPEG Lossless", "JPEG 2000", "RLE")


def _compressed() -> list[Path]:
    """Every compressed test file whose first frame pydicom decodes."""
    chosen = []
    for path in sorted(ROOT.rglob("*.dcm")):
        try:
            ds = pydicom.dcmread(path)
        except (OSError, pydicom.errors.InvalidDicomError):
            continue  # no Part 10 header: no transfer syntax
        syntax = ds.file_meta.get("TransferSyntaxUID")
        if syntax and UID(syntax).is_compressed and "PixelData" in ds and _decode(ds) is not None:
            chosen.append(path)
    return chosen


def _decode(ds: pydicom.Dataset) -> np.ndarray | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pixel_array(ds, index=0)
        except Exception:
            return None


FILES = _compressed()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[FolderStore, dict[str, Path]]:
    """Each file under fresh UIDs (many test files share them, some have none)."""
    folder = tmp_path_factory.mktemp("compressed")
    by_uid = {}
    for path in FILES:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        try:
            ds.save_as(folder / path.name, enforce_file_format=True)
        except TypeError:  # SC_rgb_jpeg.dcm: implicit VR under an explicit syntax, not writable
            (folder / path.name).unlink(missing_ok=True)
            continue
        by_uid[ds.SOPInstanceUID] = folder / path.name
    assert len(by_uid) >= len(FILES) - 1
    return FolderStore(folder), by_uid


def test_every_compressed_syntax_is_in_the_store():
    names = {UID(pydicom.dcmread(p).file_meta.TransferSyntaxUID).name for p in FILES}
    for needed in NEEDED:
        assert any(n.startswith(needed) for n in names), (needed, names)


def test_thumbnails_are_the_images(store):
    folder_store, by_uid = store
    rows = folder_store.search_instances()
    assert sorted(rows.SOPInstanceUID) == sorted(by_uid)
    thumbnails = folder_store.fetch_thumbnails(
        rows, size=64, media_type="image/png", progress=False
    )
    for uid, thumbnail in zip(rows.SOPInstanceUID, thumbnails, strict=True):
        ds = pydicom.dcmread(by_uid[uid])
        assert thumbnail == render_dataset(ds, size=64, media_type="image/png"), by_uid[uid].name


def test_instances_decode_to_what_pydicom_decodes(store):
    folder_store, by_uid = store
    for uid, path in by_uid.items():
        ds = pydicom.dcmread(path)
        ref = InstanceRef(ds.StudyInstanceUID, ds.SeriesInstanceUID, uid)
        np.testing.assert_array_equal(_decode(folder_store.fetch_instance(ref)), _decode(ds))
