"""Every pydicom test file whose pixels pydicom decodes renders as that image, not a placeholder.

pydicom's test files cover every transfer syntax (JPEG baseline, 12-bit
extended and lossless, JPEG-LS, JPEG 2000, RLE, deflate, big endian) and every
photometric interpretation. Each rendered frame is checked against pydicom's
own decode of it: same size, and the displayed values a function of the
decoded ones, rising with them (falling for MONOCHROME1). A placeholder tile,
a wrong frame or a wrong size fails.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from PIL import Image
from pydicom.pixels import pixel_array

from dicomlab.core.render import PIXEL_KEYWORDS, render_dataset
from dicomlab.errors import RenderError

ROOT = Path(pydicom.data.__file__).parent / "test_files"

# Files whose pixel data no decoder reads: damaged streams or broken headers.
UNDECODABLE = {
    # libjpeg: "A misplaced marker segment was found"; GDCM and Pillow refuse 12-bit JPEG
    "JPEG-lossy.dcm",
    "JPEG2000-embedded-sequence-delimiter.dcm",  # a delimiter inside the codestream
    "MR_truncated.dcm",  # fewer pixel bytes than the header promises
    "badVR.dcm",  # NumberOfFrames is "1A"
    "meta_missing_tsyntax.dcm",  # no transfer syntax to decode with
    "nested_priv_SQ.dcm",  # no BitsAllocated
}


def _pixel_files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*")):
        if not path.is_file():
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=False)
        except Exception:  # not DICOM (or not readable as such): no pixels to compare
            continue
        if any(keyword in ds for keyword in PIXEL_KEYWORDS):
            found.append(path)
    return found


PIXEL_FILES = _pixel_files()


def _decoded(ds: pydicom.Dataset) -> np.ndarray | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pixel_array(ds, index=0, as_rgb=True)
        except Exception:
            return None


def test_the_decoders_read_every_readable_compressed_file():
    """With the decoders installed only damaged files stay unreadable."""
    unreadable = {p.name for p in PIXEL_FILES if _decoded(pydicom.dcmread(p)) is None}
    assert unreadable == UNDECODABLE
    compressed = [p for p in PIXEL_FILES if pydicom.dcmread(p).file_meta.get("TransferSyntaxUID")]
    syntaxes = {
        pydicom.uid.UID(pydicom.dcmread(p).file_meta.TransferSyntaxUID).name for p in compressed
    }
    for needed in ("JPEG-LS Lossless", "JPEG Extended", "JPEG Lossless", "JPEG 2000", "RLE"):
        assert any(name.startswith(needed) for name in syntaxes), needed


def _monotone(decoded: np.ndarray, shown: np.ndarray, falling: bool) -> bool:
    """``shown`` is a function of ``decoded`` that never falls (or never rises) as it rises."""
    d, s = decoded.ravel().astype(np.float64), shown.ravel().astype(np.int64)
    order = np.lexsort((-s if falling else s, d))
    steps = np.diff(s[order])
    return bool(np.all(steps <= 0) if falling else np.all(steps >= 0))


@pytest.mark.parametrize("path", PIXEL_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_rendered_frame_is_what_pydicom_decodes(path):
    ds = pydicom.dcmread(path)
    expected = _decoded(ds)
    if path.name in UNDECODABLE:
        with pytest.raises(RenderError, match=r"cannot decode|no pixel|unexpected|unreadable"):
            render_dataset(ds, size=None)
        return
    assert expected is not None
    shown = np.asarray(Image.open(io.BytesIO(render_dataset(ds, size=None))))
    assert shown.shape[:2] == expected.shape[:2]
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        # Each palette index shows as one colour.
        pairs = np.unique(np.column_stack([expected.ravel(), shown.reshape(-1, 3)]), axis=0)
        assert len(np.unique(pairs[:, 0])) == len(pairs)
        return
    planes = (
        [(expected, shown)]
        if expected.ndim == 2
        else [(expected[..., c], shown[..., c]) for c in range(3)]
    )
    for decoded, display in planes:
        assert _monotone(decoded, display, falling=photometric == "MONOCHROME1")
        if np.ptp(decoded) > 0 and expected.ndim == 2:
            assert np.ptp(display) > 0, "a frame with contrast rendered flat"
