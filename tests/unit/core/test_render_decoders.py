"""The renderer decodes with the fastest installed plugin: the same pixels, or nearly (lossy)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import pixel_array

from dicomlab.core import render
from dicomlab.samples.realistic import build_image


@pytest.mark.parametrize("kind", ["CT", "CR", "US"])
def test_jpeg_ls_decodes_to_the_same_pixels(kind):
    ds = build_image(kind, index=3, syntax="jpegls", scale=0.125)
    np.testing.assert_array_equal(render._fast_decode(ds, 0), pixel_array(ds, index=0))


@pytest.mark.parametrize("kind", ["CT", "CR"])
def test_greyscale_jpeg_baseline_decodes_within_a_grey_level(kind):
    ds = build_image(kind, index=3, syntax="jpeg", scale=0.25)
    ours = render._fast_decode(ds, 0).astype(int)
    default = pixel_array(ds, index=0).astype(int)
    assert ours.shape == default.shape
    assert np.abs(ours - default).max() <= 2  # IDCT rounding differs between decoders


def test_colour_jpeg_keeps_pydicoms_decoder():
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg.dcm", download=False))
    expected = pixel_array(ds, index=0, as_rgb=True)
    np.testing.assert_array_equal(render._fast_decode(ds, 0), expected)


def test_a_missing_plugin_falls_back_to_pydicoms_order(monkeypatch):
    ds = build_image("CT", syntax="jpegls", scale=0.125)
    monkeypatch.setitem(render._FAST_PLUGINS, str(ds.file_meta.TransferSyntaxUID), "no-such")
    np.testing.assert_array_equal(render._fast_decode(ds, 0), pixel_array(ds, index=0))


def test_a_plugin_that_refuses_falls_back(monkeypatch):
    ds = build_image("CT", syntax="jpegls", scale=0.125)
    calls = []

    def refusing(*args, decoding_plugin="", **kwargs):
        calls.append(decoding_plugin)
        if decoding_plugin:
            raise RuntimeError("this plugin refuses the frame")
        return pixel_array(*args, **kwargs)

    monkeypatch.setattr(render, "pixel_array", refusing)
    assert render._fast_decode(ds, 0).shape == (64, 64)
    assert calls == ["pyjpegls", ""]
