from io import BytesIO

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from dicomlab.core.render import render_dataset, to_display_array
from dicomlab.errors import RenderError


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


def decoded(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    image.load()
    return image


def test_mr_sixteen_bit_uses_its_stored_window():
    ds = load("MR_small.dcm")
    arr = to_display_array(ds)
    assert arr.shape == (64, 64) and arr.dtype == np.uint8 and arr.std() > 0
    assert np.array_equal(arr, to_display_array(ds, window=(600, 1600)))  # its own window
    assert not np.array_equal(arr, to_display_array(ds, window=(300, 400)))


def test_multi_valued_window_uses_the_first_pair():
    first = to_display_array(synthetic(RAMP, WindowCenter=[3150, 100], WindowWidth=[1000, 50]))
    assert np.array_equal(first, to_display_array(synthetic(RAMP), window=(3150, 1000)))


def test_signed_pixels_are_windowed_after_rescale():
    stored = (np.arange(64, dtype=np.int16).reshape(8, 8) - 32) * 10  # -320..310
    ds = synthetic(stored, RescaleSlope=2, RescaleIntercept=-1000)  # -1640..-380 HU
    arr = to_display_array(ds, window=(-1010, 1260))  # exactly the modality range
    assert arr[0, 0] <= 1 and arr[-1, -1] >= 254
    assert np.all(np.diff(arr.ravel().astype(int)) >= 0)  # monotonic ramp survives
    assert to_display_array(ds, window=(0, 100)).max() == 0  # all below the window


def test_voi_lut_sequence_is_applied():
    item = Dataset()
    item.LUTDescriptor = [64, 0, 16]
    item.LUTData = list(range(63 * 1000, -1, -1000))  # a decreasing table
    ds = synthetic(np.arange(64, dtype=np.uint16).reshape(8, 8), VOILUTSequence=[item])
    arr = to_display_array(ds)
    assert arr[0, 0] == 255 and arr[-1, -1] == 0


def test_flat_image_is_exactly_mid_grey():
    arr = to_display_array(synthetic(np.full((4, 4), 7, dtype=np.uint16)))
    assert arr.shape == (4, 4) and np.all(arr == 128)


def test_monochrome1_inverts_an_explicit_window_too():
    normal = to_display_array(synthetic(RAMP), window=(3150, 1000))
    inverted = to_display_array(synthetic(RAMP, "MONOCHROME1"), window=(3150, 1000))
    assert np.array_equal(inverted, 255 - normal) and inverted[0, 0] == 255


def test_multiframe_greyscale_dose():
    ds = load("rtdose.dcm")
    frames = [to_display_array(ds, frame=i) for i in (0, ds.NumberOfFrames - 1)]
    assert all(f.shape == (10, 10) and f.dtype == np.uint8 and f.std() > 0 for f in frames)
    assert not np.array_equal(*frames)


def test_error_messages_say_what_and_which():
    dose = load("rtdose.dcm")
    with pytest.raises(RenderError, match=r"frame -1 is out of range .* 15 frame"):
        to_display_array(dose, frame=-1)
    plan = load("rtplan.dcm")
    del plan.SOPInstanceUID
    with pytest.raises(RenderError, match="without a SOPInstanceUID has no pixel data"):
        to_display_array(plan)


def test_decoding_failures_are_wrapped():
    ds = synthetic(RAMP)
    ds.PixelData = b"\0" * 10
    with pytest.raises(RenderError, match=r"cannot decode frame 0 of instance 1\.2\.3\.4") as info:
        to_display_array(ds)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, ValueError) and "bytes" in str(info.value.__cause__)


def test_a_number_of_frames_that_breaks_its_vr_is_a_render_error():
    ds = load("badVR.dcm")  # NumberOfFrames "1A" stays a str when read
    with pytest.raises(RenderError, match="NumberOfFrames") as info:
        to_display_array(ds)
    assert "1A" in str(info.value)


def test_aspect_ratio_and_colour_modes():
    ds = load("examples_rgb_color.dcm")  # 320 wide, 240 high
    png = decoded(render_dataset(ds, size=100))
    assert png.format == "PNG" and png.mode == "RGB" and png.size == (100, 75)
    jpeg = decoded(render_dataset(ds, size=400, media_type="image/jpeg", quality=50))
    assert jpeg.format == "JPEG" and jpeg.size == (400, 300)
    grey = decoded(render_dataset(load("CT_small.dcm"), size=32, media_type="image/jpeg"))
    assert grey.mode == "L" and grey.size == (32, 32)


def test_other_frames_render():
    ds = load("examples_ybr_color.dcm")
    assert render_dataset(ds, frame=29, size=None) != render_dataset(ds, frame=0, size=None)
    with pytest.raises(RenderError, match="frame 30"):
        render_dataset(ds, frame=30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"media_type": "image/webp"}, "image/jpeg"),
        ({"size": 0}, "size must be a positive"),
        ({"quality": 0}, "quality must be between"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(RenderError, match=message):
        render_dataset(load("CT_small.dcm"), **kwargs)


def test_every_image_in_the_sample_cohort_renders(sample_files):
    rendered = 0
    for path in sample_files:
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            with pytest.raises(RenderError, match=str(ds.SOPInstanceUID)):
                to_display_array(ds)
            continue
        arr = to_display_array(ds)
        assert arr.shape == (16, 16) and len(np.unique(arr)) > 2, path
        rendered += 1
    assert rendered == 31
