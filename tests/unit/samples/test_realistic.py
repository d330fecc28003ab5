"""The realistic synthetic cohort: sizes, HU ranges, rich headers, lossless round trips."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from dicomlab.core.uids import is_valid_uid
from dicomlab.errors import InvalidRequestError
from dicomlab.samples.realistic import KINDS, LOSSLESS, SYNTAXES, build_image, generate_realistic

SMALL = 0.125  # a 64x64 CT, a 312x256 radiograph: fast, still structured


def _bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _reread(ds: pydicom.Dataset) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(_bytes(ds)))


def _all_elements(ds: pydicom.Dataset) -> int:
    return sum(
        1 + sum(_all_elements(item) for item in elem.value) if elem.VR == "SQ" else 1 for elem in ds
    )


@pytest.mark.parametrize("syntax", list(SYNTAXES))
def test_same_arguments_give_the_same_bytes(syntax):
    first = _bytes(build_image("MR", index=2, syntax=syntax, scale=0.25))
    assert first == _bytes(build_image("MR", index=2, syntax=syntax, scale=0.25))
    assert first != _bytes(build_image("MR", index=2, syntax=syntax, scale=0.25, seed=1))


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("syntax", [s for s in LOSSLESS if s != "explicit"])
def test_lossless_syntaxes_decode_to_the_uncompressed_pixels(kind, syntax):
    plain = _reread(build_image(kind, index=1, scale=SMALL)).pixel_array
    packed = _reread(build_image(kind, index=1, syntax=syntax, scale=SMALL))
    assert packed.file_meta.TransferSyntaxUID == SYNTAXES[syntax]
    assert packed.file_meta.TransferSyntaxUID.is_compressed
    np.testing.assert_array_equal(packed.pixel_array, plain)


@pytest.mark.parametrize("kind", list(KINDS))
def test_jpeg_baseline_keeps_modality_values_close(kind):
    plain = _reread(build_image(kind, index=1, scale=SMALL))
    lossy = _reread(build_image(kind, index=1, syntax="jpeg", scale=SMALL))
    assert lossy.file_meta.TransferSyntaxUID == SYNTAXES["jpeg"]
    assert lossy.BitsStored == 8 and lossy.LossyImageCompression == "01"
    exact = apply_modality_lut(plain.pixel_array, plain).astype(float)
    shown = apply_modality_lut(lossy.pixel_array, lossy).astype(float)
    step = float(lossy.RescaleSlope)
    assert np.median(np.abs(shown - exact)) <= 4 * step


def test_ct_is_in_plausible_hounsfield_units():
    ds = _reread(build_image("CT", index=60))
    hu = apply_modality_lut(ds.pixel_array, ds)
    assert ds.RescaleType == "HU" and ds.RescaleIntercept == -1024
    assert hu.min() == -1024  # air around the body
    assert hu.max() <= 3071
    assert np.mean(hu < -700) > 0.2  # air and lungs
    assert np.mean((hu > -150) & (hu < 100)) > 0.15  # fat, muscle, organs
    assert np.mean(hu > 300) > 0.003  # bone


@pytest.mark.parametrize("kind", ["CT", "MR", "US"])
def test_full_sizes_are_as_stated(kind):
    spec = KINDS[kind]
    ds = _reread(build_image(kind))
    expected = (spec.rows, spec.columns) if spec.frames == 1 else (16, spec.rows, spec.columns)
    assert ds.pixel_array.shape == expected
    assert (ds.Rows, ds.Columns, ds.BitsStored) == (spec.rows, spec.columns, spec.bits_stored)


def test_radiograph_is_full_size():
    assert (KINDS["CR"].rows, KINDS["CR"].columns) == (2500, 2048)
    assert build_image("CR", scale=0.5).pixel_array.shape == (1250, 1024)


def test_headers_are_as_rich_as_ct_small():
    reference = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds = _reread(build_image("MR", index=3, syntax="j2k", scale=SMALL))
    assert _all_elements(ds) >= _all_elements(reference)
    assert sum(elem.tag.is_private for elem in ds) >= 100
    assert {"ProcedureCodeSequence", "ReferencedImageSequence"} <= set(ds.dir())
    assert ds.Modality == "MR" and ds.SOPClassUID == KINDS["MR"].sop_class
    assert "CompressedSamples" not in str(ds.PatientName)


def test_uids_are_valid_and_distinct():
    datasets = [
        build_image(kind, index=i, syntax=syntax, scale=SMALL)
        for kind in ("CT", "MR")
        for syntax in ("explicit", "rle")
        for i in range(2)
    ]
    for ds in datasets:
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID):
            assert is_valid_uid(str(uid)), uid
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 4  # one per kind and syntax
    assert len({ds.StudyInstanceUID for ds in datasets}) == 2  # one per kind


def test_slices_change_along_the_series():
    first = build_image("CT", index=0, scale=SMALL, slices=10).pixel_array
    last = build_image("CT", index=9, scale=SMALL, slices=10).pixel_array
    assert not np.array_equal(first, last)
    assert build_image("CT", index=9, scale=SMALL, slices=10).InstanceNumber == 10


@pytest.mark.parametrize(
    ("arguments", "named"),
    [({"kind": "PET"}, "'PET'"), ({"kind": "CT", "syntax": "jpeg2k"}, "'jpeg2k'"),
     ({"kind": "CT", "scale": 0.001}, "0.001")],
)  # fmt: skip
def test_bad_arguments_are_named(arguments, named):
    with pytest.raises(InvalidRequestError, match=named):
        build_image(**arguments)


def test_generate_writes_one_series_per_kind_and_syntax(tmp_path):
    paths = generate_realistic(
        tmp_path, kinds=["CT", "US"], syntaxes=["rle", "jpeg"], instances={"CT": 3, "US": 1},
        scale=SMALL,
    )  # fmt: skip
    assert len(paths) == 2 * 3 + 2 * 1
    assert all(p.is_file() and p.is_relative_to(tmp_path) for p in paths)
    series = {pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID for p in paths}
    assert len(series) == 4
    us = pydicom.dcmread(tmp_path / "US" / "rle" / "IM00000.dcm")
    assert us.NumberOfFrames == 16 and us.pixel_array.shape[0] == 16
