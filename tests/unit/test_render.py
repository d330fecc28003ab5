from io import BytesIO

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from dicomlab.errors import RenderError
from dicomlab.render import render_dataset, to_display_array


def load(name: str) -> Dataset:
    return pydicom.dcmread(get_testdata_file(name, download=False))


def synthetic(pixels: np.ndarray, photometric: str = "MONOCHROME2", **extra) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPInstanceUID = "1.2.3.4"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    for key, value in extra.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.tobytes()
    return ds


RAMP = np.arange(64, dtype=np.uint16).reshape(8, 8) * 100


def test_sixteen_bit_signed_ct():
    arr = to_display_array(load("CT_small.dcm"))
    assert arr.shape == (128, 128) and arr.dtype == np.uint8
    assert len(np.unique(arr)) > 50


def test_explicit_window_changes_the_output():
    ds = load("MR_small.dcm")
    narrow, wide = to_display_array(ds, window=(600, 200)), to_display_array(ds, window=(600, 3000))
    assert not np.array_equal(narrow, wide)
    assert (narrow == 255).mean() > (wide == 255).mean()
    with pytest.raises(RenderError, match="width"):
        to_display_array(ds, window=(600, 0))


def test_min_max_when_no_window_and_inversion_for_monochrome1():
    plain = to_display_array(synthetic(RAMP))
    assert plain.min() == 0 and plain.max() == 255 and plain[0, 0] == 0
    inverted = to_display_array(synthetic(RAMP, "MONOCHROME1"))
    assert np.array_equal(inverted, 255 - plain)


def test_dataset_window_is_applied():
    arr = to_display_array(synthetic(RAMP, WindowCenter=3150, WindowWidth=1000))
    assert arr[0, 0] == 0 and arr[-1, -1] == 255
    assert 0 < arr[3, 7] < 255  # 3100 is inside the window


def test_saturating_window_falls_back_to_min_max():
    arr = to_display_array(synthetic(RAMP + 5000, WindowCenter=40, WindowWidth=80))
    assert len(np.unique(arr)) > 2


def test_flat_image_is_mid_grey_not_an_error():
    arr = to_display_array(synthetic(np.full((4, 4), 7, dtype=np.uint16)))
    assert np.all(arr == arr[0, 0])


def test_colour_multiframe():
    ds = load("examples_ybr_color.dcm")
    first, last = to_display_array(ds), to_display_array(ds, frame=ds.NumberOfFrames - 1)
    assert first.shape == (240, 320, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, last)
    rgb = to_display_array(load("examples_rgb_color.dcm"))
    assert rgb.shape == (240, 320, 3) and rgb.std() > 0


def test_palette_colour():
    arr = to_display_array(load("examples_palette.dcm"))
    assert arr.ndim == 3 and arr.shape[2] == 3 and arr.std() > 0


def test_no_pixels_and_bad_frame_name_the_instance():
    plan = load("rtplan.dcm")
    with pytest.raises(RenderError) as info:
        to_display_array(plan)
    assert plan.SOPInstanceUID in str(info.value)
    dose = load("rtdose.dcm")
    with pytest.raises(RenderError) as info:
        to_display_array(dose, frame=dose.NumberOfFrames)
    assert dose.SOPInstanceUID in str(info.value)


def test_encodings_and_sizes():
    ds = load("CT_small.dcm")
    png, jpeg = render_dataset(ds, size=64), render_dataset(ds, size=64, media_type="image/jpeg")
    assert png.startswith(b"\x89PNG") and jpeg.startswith(b"\xff\xd8")
    assert Image.open(BytesIO(png)).size == (64, 64)
    assert Image.open(BytesIO(render_dataset(ds, size=None))).size == (128, 128)
    with pytest.raises(RenderError, match="image/gif"):
        render_dataset(ds, media_type="image/gif")


def test_tiny_images_are_enlarged_crisply(sample_files):
    mr = next(p for p in sample_files if "MR" in p.parent.name)
    ds = pydicom.dcmread(mr)
    assert (ds.Rows, ds.Columns, ds.BitsAllocated) == (16, 16, 16)
    image = np.asarray(Image.open(BytesIO(render_dataset(ds, size=128))))
    assert image.shape == (128, 128)
    native = to_display_array(ds)
    assert np.array_equal(image[::8, ::8], native)  # nearest-neighbour: blocks of 8×8
