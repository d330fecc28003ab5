"""Decode a JPEG 2000 frame at a reduced resolution, when only a small image is wanted.

A JPEG 2000 codestream holds its image as wavelet resolution levels: each level
dropped halves both sides, and decoding costs about a quarter as much. A
256-px thumbnail of a 2,500x2,048 radiograph needs two or three levels fewer
than the full image: 0.04 s of decoding instead of 0.6 s. The result is the
codestream's own low-pass image (an anti-aliased reduction, like Pillow's box
reduction before its Lanczos pass), at least twice the size wanted, so the
final resize still has pixels to spare.

Only for what can be checked: greyscale, unsigned, a raw codestream whose
header gives its precision (Pillow widens values of fewer than 16 bits to 16:
they are shifted back) and that Pillow opens at the size the header promises;
anything else returns ``None`` and the caller decodes the full frame as usual.

>>> from dicomlab.samples.realistic import build_image
>>> ds = build_image("CR", syntax="j2k", scale=0.25)          # 625x512
>>> reduced_frame(ds, 0, 128).shape                           # one level fewer
(313, 256)
>>> reduced_frame(ds, 0, 512) is None                         # nothing to drop
True
"""

from __future__ import annotations

import io
import logging
import math

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000, JPEG2000Lossless

__all__ = ["reduced_frame"]

logger = logging.getLogger(__name__)

_JPEG2000 = (str(JPEG2000), str(JPEG2000Lossless))
_MAX_LEVELS = 5  # OpenJPEG's default number of resolution levels


def _levels(rows: int, columns: int, size: int) -> int:
    """How many levels can go while the larger side stays at least twice ``size``."""
    longest = max(rows, columns)
    if size < 1 or longest < 4 * size:
        return 0
    return min(_MAX_LEVELS, int(math.log2(longest / (2 * size))))


def reduced_frame(ds: Dataset, frame: int, size: int) -> np.ndarray | None:
    """Frame ``frame`` of a JPEG 2000 dataset, decoded with resolution levels dropped.

    Returns ``None`` when nothing can be dropped, the dataset is not one
    this applies to, or the decoder does not give the size it must.
    """
    from PIL import Image
    from pydicom.encaps import get_frame

    syntax = str(ds.get("file_meta", Dataset()).get("TransferSyntaxUID", ""))
    if syntax not in _JPEG2000 or int(ds.get("SamplesPerPixel") or 1) != 1:
        return None
    if int(ds.get("PixelRepresentation") or 0) != 0 or int(ds.get("BitsAllocated") or 0) > 16:
        return None
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    levels = _levels(rows, columns, size)
    if not levels:
        return None
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        stream = get_frame(ds.PixelData, frame, number_of_frames=frames)
        precision = _precision(stream)
        if precision is None:
            return None
        with Image.open(io.BytesIO(stream)) as image:
            # Pillow's JPEG 2000 reader takes the resolution levels to drop in the
            # attribute that shadows Image.reduce (typed as the method in some Pillows).
            setattr(image, "reduce", levels)  # noqa: B010
            image.load()
            mode, arr = image.mode, np.asarray(image)
    except Exception as exc:  # any trouble: the full decode says what is wrong
        logger.debug("no reduced decode of frame %d: %s", frame, exc)
        return None
    scale = 2**levels
    if arr.ndim != 2 or arr.shape != (-(-rows // scale), -(-columns // scale)):
        return None
    if mode == "I;16":
        shifted: np.ndarray = np.right_shift(arr, 16 - precision)
        return shifted
    return arr if mode == "L" and precision == 8 else None


def _precision(stream: bytes) -> int | None:
    """Bits per sample of a one-component, unsigned raw codestream (its SIZ marker), or ``None``.

    SOC, then SIZ: length, capabilities, eight 4-byte sizes and offsets, the
    component count, then per component its signedness and precision.
    """
    if stream[:4] != b"\xff\x4f\xff\x51" or len(stream) < 43:
        return None
    if int.from_bytes(stream[40:42], "big") != 1 or stream[42] & 0x80:
        return None
    return int(stream[42] & 0x7F) + 1
