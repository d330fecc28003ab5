"""JPEG 2000 frames for small images are decoded at a reduced resolution, close to the full one."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.pixels import pixel_array

from dicomlab.core import reduced
from dicomlab.core.render import render_dataset, render_frame
from dicomlab.samples.realistic import build_image


def _box(full: np.ndarray, factor: int) -> np.ndarray:
    rows, columns = (s // factor * factor for s in full.shape)
    blocks = full[:rows, :columns].reshape(rows // factor, factor, columns // factor, factor)
    return blocks.mean(axis=(1, 3))


@pytest.mark.parametrize(("kind", "size"), [("CR", 128), ("CT", 64), ("US", 64)])
def test_reduced_frame_is_the_image_at_a_lower_resolution(kind, size):
    ds = build_image(kind, syntax="j2k", scale=0.5)
    arr = reduced.reduced_frame(ds, 0, size)
    assert arr is not None
    full = pixel_array(ds, index=0).astype(float)
    levels = reduced._levels(ds.Rows, ds.Columns, size)
    assert levels >= 1 and arr.shape == tuple(-(-s // 2**levels) for s in full.shape)
    assert max(arr.shape) >= 2 * size  # still twice the size wanted
    # Same units and range as the full decode (Pillow's 16-bit widening undone) ...
    # (the wavelet low-pass rings a little past the edges of bright structures)
    assert arr.dtype == pixel_array(ds, index=0).dtype and arr.max() <= full.max() * 1.15
    # ... and, block for block, the same picture as a box reduction of it.
    box = _box(full, 2**levels)
    part = arr[: box.shape[0], : box.shape[1]].astype(float)
    assert np.median(np.abs(part - box)) <= 0.05 * (full.max() - full.min())
    assert np.corrcoef(part.ravel(), box.ravel())[0, 1] > 0.95


def test_frames_of_a_multi_frame_image_are_their_own():
    ds = build_image("US", syntax="j2k", scale=0.5)
    first, last = reduced.reduced_frame(ds, 0, 32), reduced.reduced_frame(ds, 15, 32)
    assert first is not None and last is not None and not np.array_equal(first, last)


@pytest.mark.parametrize(
    ("kind", "syntax", "size"),
    [("CR", "j2k", 2048), ("CR", "rle", 64), ("CR", "explicit", 64), ("MR", "j2k", 200)],
)
def test_nothing_to_drop_or_not_jpeg_2000_decodes_in_full(kind, syntax, size):
    assert reduced.reduced_frame(build_image(kind, syntax=syntax, scale=0.25), 0, size) is None


def test_signed_or_unreadable_codestreams_are_left_to_the_full_decode(monkeypatch):
    ds = build_image("CR", syntax="j2k", scale=0.5)
    ds.PixelRepresentation = 1
    assert reduced.reduced_frame(ds, 0, 32) is None
    ds.PixelRepresentation = 0
    assert reduced._precision(b"\x00" * 64) is None  # no SOC/SIZ: not a raw codestream
    monkeypatch.setattr(reduced, "_levels", lambda *a: 9)  # more levels than the stream has
    assert reduced.reduced_frame(ds, 0, 32) is None


def test_thumbnails_use_it_and_look_like_the_full_render():
    ds = build_image("CR", syntax="j2k", scale=0.5)  # 1250x1024
    small = np.asarray(Image.open(io.BytesIO(render_dataset(ds, size=128))), dtype=float)
    plain = build_image("CR", syntax="explicit", scale=0.5)
    expected = np.asarray(Image.open(io.BytesIO(render_dataset(plain, size=128))), dtype=float)
    assert small.shape == expected.shape == (128, 105)
    assert np.abs(small - expected).mean() < 3  # grey levels out of 255
    _, applied = render_frame(ds, size=128)
    assert applied.source == "dataset"


def test_native_size_decodes_in_full():
    ds = build_image("CR", syntax="j2k", scale=0.25)
    image = Image.open(io.BytesIO(render_dataset(ds, size=None)))
    assert image.size == (512, 625)
