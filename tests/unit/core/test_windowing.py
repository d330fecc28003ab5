"""The table path of greyscale display gives the per-pixel path's pixels and window, exactly."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

from dicomlab.core import windowing
from dicomlab.samples.realistic import KINDS, build_image

ROOT = Path(pydicom.data.__file__).parent / "test_files"
WINDOWS = [None, (40.0, 400.0), (-600.0, 1500.0), (0.5, 0.5)]


def _both(arr: np.ndarray, ds: Dataset, window: tuple[float, float] | None) -> None:
    reference = windowing._display(arr, ds, window)  # per pixel
    tabled = windowing.greyscale(arr, ds, window)
    np.testing.assert_array_equal(tabled[0], reference[0])
    assert tabled[1] == reference[1]


def _large_integer_frames() -> list[Path]:
    """pydicom's greyscale integer test files big enough for the table path."""
    found = []
    for path in sorted(ROOT.glob("*.dcm")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
                arr = pixel_array(ds, index=0)
        except Exception:  # undecodable files are another test's business
            continue
        greyscale = int(ds.get("SamplesPerPixel") or 1) == 1
        palette = ds.get("PhotometricInterpretation") == "PALETTE COLOR"
        if greyscale and not palette and arr.ndim == 2 and arr.dtype.kind in "iu":
            found.append(path)
    return found


FILES = _large_integer_frames()


def test_the_test_files_cover_the_cases():
    names = {p.name for p in FILES}
    assert len(FILES) >= 20
    assert {"CT_small.dcm", "MR_small.dcm", "rtdose.dcm"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("window", WINDOWS)
def test_pydicom_test_files(path, window):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        _both(pixel_array(ds, index=0), ds, window)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "CR"])
@pytest.mark.parametrize("window", WINDOWS)
def test_realistic_images(kind, window):
    ds = build_image(kind, index=40, scale=0.5)
    _both(pixel_array(ds, index=0), ds, window)


def _frame(arr: np.ndarray, **elements: object) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


RNG = np.random.default_rng(5)
SIGNED = RNG.integers(-2000, 3000, (96, 96)).astype(np.int16)


@pytest.mark.parametrize(
    "elements",
    [
        {},  # the frame's own range
        {"RescaleSlope": -0.5, "RescaleIntercept": 100},  # a falling modality LUT
        {"WindowCenter": 40, "WindowWidth": 400, "PhotometricInterpretation": "MONOCHROME1"},
        {"WindowCenter": 40, "WindowWidth": 400, "VOILUTFunction": "SIGMOID"},
        {"WindowCenter": 9000, "WindowWidth": 2},  # flattens the frame: min-max instead
        {"Modality": "RTDOSE", "DoseGridScaling": 0.001},
    ],
)
def test_edge_cases_match(elements):
    arr = SIGNED.copy()
    _both(arr, _frame(arr, **elements), None)


def test_table_is_skipped_where_it_could_differ():
    arr = SIGNED.copy()
    voi = Dataset()
    voi.LUTDescriptor, voi.LUTData = [4, 0, 8], [0, 200, 10, 255]  # not monotonic
    cases = [
        (arr.astype(np.float32), _frame(arr), None),  # float pixels
        (arr, _frame(arr, VOILUTSequence=[voi]), None),  # a VOI LUT may be used
        (np.array([[0, 60000]] * 40, dtype=np.uint16), _frame(arr), None),  # range > pixels
    ]
    for pixels, ds, window in cases:
        assert windowing._value_table(pixels, ds, window) is None
    assert windowing._value_table(arr, _frame(arr, VOILUTSequence=[voi]), (0, 10)) is not None
