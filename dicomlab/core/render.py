"""Turn DICOM pixel data into 8-bit display images (PNG or JPEG), without I/O.

Greyscale frames go through the Modality LUT (rescale slope and intercept;
an RT dose's DoseGridScaling, so its values are in its DoseUnits), then a VOI
transform (an explicit window, the dataset's window, its VOI LUT Sequence, or
the frame's own range; :func:`applied_window` says which), and MONOCHROME1
frames are inverted.
Colour frames come out as RGB: YBR frames are converted while decoding and
PALETTE COLOR frames go through their palette.

>>> import pydicom
>>> from pydicom.data import get_testdata_file
>>> ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
>>> to_display_array(ds).shape
(128, 128)
>>> render_dataset(ds, size=64)[:4]
b'\\x89PNG'
"""

from __future__ import annotations

import io
import logging
import numbers

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import get_nr_frames, pixel_array
from pydicom.uid import JPEGBaseline8Bit, JPEGLSLossless, JPEGLSNearLossless

from dicomlab.core.reduced import reduced_frame
from dicomlab.core.windowing import AppliedWindow, describe, greyscale
from dicomlab.errors import RenderError

__all__ = [
    "MEDIA_TYPES",
    "AppliedWindow",
    "applied_window",
    "render_dataset",
    "render_frame",
    "render_placeholder",
    "to_display_array",
]

logger = logging.getLogger(__name__)

MEDIA_TYPES = ("image/jpeg", "image/png")
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
# The fastest decoder plugin by transfer syntax, where it is not pydicom's first choice.
_FAST_PLUGINS: dict[str, str] = {
    JPEGBaseline8Bit: "pillow",  # greyscale only
    JPEGLSLossless: "pyjpegls",
    JPEGLSNearLossless: "pyjpegls",
}
# Decoders and plugins raise many types; these are the ones a bad frame can cause.
_DECODE_ERRORS = (
    AttributeError,
    KeyError,
    IndexError,
    NotImplementedError,
    OSError,
    RuntimeError,
    TypeError,
    ValueError,
)


def _decode_frame(ds: Dataset, frame: int, size: int | None = None) -> np.ndarray:
    """Decode one frame (YBR as RGB), raising :class:`RenderError` on failure."""
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        raise RenderError(
            f"{describe(ds)} has no pixel data (none of {', '.join(PIXEL_KEYWORDS)}); "
            "it is not an image, so there is nothing to render"
        )
    try:
        frames = int(get_nr_frames(ds, warn=False))  # a value that breaks its VR stays a str
    except (TypeError, ValueError) as exc:
        raise RenderError(f"{describe(ds)} has an unreadable NumberOfFrames: {exc}") from exc
    if not 0 <= frame < frames:
        raise RenderError(
            f"frame {frame} is out of range for {describe(ds)}, which has "
            f"{frames} frame(s); use an index from 0 to {frames - 1}"
        )
    if size is not None and (reduced := reduced_frame(ds, frame, size)) is not None:
        return reduced  # a JPEG 2000 frame decoded at the resolution a small image needs
    try:
        return _fast_decode(ds, frame)
    except _DECODE_ERRORS as exc:
        syntax = ds.get("file_meta", Dataset()).get("TransferSyntaxUID", "unknown")
        syntax = getattr(syntax, "name", syntax)
        raise RenderError(
            f"cannot decode frame {frame} of {describe(ds)} (transfer syntax {syntax}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _fast_decode(ds: Dataset, frame: int) -> np.ndarray:
    """Decode with the fastest installed plugin for the syntax, else pydicom's first choice.

    pydicom tries pylibjpeg first; on a 2,500x2,048 radiograph Pillow decodes
    greyscale JPEG baseline four times faster and pyjpegls (CharLS) JPEG-LS
    three times faster. A frame the preferred plugin refuses goes to pydicom's
    own order.
    """
    from pydicom.pixels.decoders.base import get_decoder

    syntax = ds.get("file_meta", Dataset()).get("TransferSyntaxUID")
    plugin = _FAST_PLUGINS.get(str(syntax))
    if plugin == "pillow" and int(ds.get("SamplesPerPixel") or 1) != 1:
        plugin = None  # Pillow applies its own colour transform to colour JPEGs
    if plugin is not None:
        try:
            if plugin in get_decoder(syntax).available_plugins:
                return pixel_array(ds, index=frame, as_rgb=True, decoding_plugin=plugin)
        except _DECODE_ERRORS as exc:
            logger.debug("%s could not decode %s: %s", plugin, describe(ds), exc)
    return pixel_array(ds, index=frame, as_rgb=True)


def _to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    """Scale unsigned colour samples of ``bits`` bits down to 8 bits."""
    if arr.dtype == np.uint8:
        return arr
    scaled: np.ndarray = np.clip(arr * (255.0 / (2**bits - 1)), 0, 255).astype(np.uint8)
    return scaled


def _colour(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """RGB uint8 for an RGB, YBR (already converted) or PALETTE COLOR frame."""
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        try:
            rgb = apply_color_lut(arr, ds)[..., :3]
        except (ValueError, AttributeError, KeyError) as exc:
            raise RenderError(f"cannot apply the colour palette of {describe(ds)}: {exc}") from exc
        depth = int(ds.RedPaletteColorLookupTableDescriptor[2])
        return _to_uint8(rgb, 16 if rgb.dtype == np.uint16 and depth > 8 else 8)
    return _to_uint8(arr, int(ds.get("BitsStored") or 8))


def to_display_array(
    ds: Dataset, *, frame: int = 0, window: tuple[float, float] | None = None
) -> np.ndarray:
    """Return one frame of ``ds`` as display-ready ``uint8`` pixels.

    Parameters
    ----------
    ds
        A dataset with ``PixelData``, ``FloatPixelData`` or ``DoubleFloatPixelData``.
    frame
        0-based frame index (multi-frame datasets).
    window
        ``(center, width)`` in modality units (e.g. Hounsfield units), overriding
        the dataset's own window; ignored for colour images.

    Returns
    -------
    numpy.ndarray
        ``(rows, columns)`` for greyscale or ``(rows, columns, 3)`` RGB, dtype ``uint8``.

    Raises
    ------
    RenderError
        No pixel data, ``frame`` out of range, or pixels that cannot be decoded.

    Examples
    --------
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
    >>> arr = to_display_array(ds, window=(600, 1600))
    >>> arr.shape, arr.dtype
    ((64, 64), dtype('uint8'))
    """
    return _display_frame(ds, frame, window)[0]


def _display_frame(
    ds: Dataset, frame: int, window: tuple[float, float] | None, size: int | None = None
) -> tuple[np.ndarray, AppliedWindow]:
    """One decode of the frame: its display pixels and the VOI transform they got.

    With ``size`` (the largest side wanted), a JPEG 2000 frame may be decoded
    at a lower resolution (:mod:`dicomlab.core.reduced`).
    """
    arr = _decode_frame(ds, frame, size)
    if _is_colour(ds):
        return _colour(arr, ds), AppliedWindow("colour")
    if arr.ndim != 2:
        raise RenderError(f"{describe(ds)} decoded to an unexpected shape {arr.shape}")
    return greyscale(arr, ds, window)


def _is_colour(ds: Dataset) -> bool:
    samples = int(ds.get("SamplesPerPixel") or 1)
    return samples > 1 or ds.get("PhotometricInterpretation") == "PALETTE COLOR"


def applied_window(
    ds: Dataset, *, frame: int = 0, window: tuple[float, float] | None = None
) -> AppliedWindow:
    """The VOI transform :func:`to_display_array` applies to this frame, with these arguments.

    Raises
    ------
    RenderError
        As :func:`to_display_array`.

    Examples
    --------
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
    >>> applied_window(ds)
    AppliedWindow(source='dataset', center=600.0, width=1600.0)
    >>> applied_window(ds, window=(40, 400)).source
    'given'
    """
    return _display_frame(ds, frame, window)[1]


def _resize(image: Image.Image, size: int | None) -> Image.Image:
    """Fit ``image`` in a ``size``-pixel square, shrinking smoothly or enlarging crisply."""
    if size is None:
        return image
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise RenderError(f"size must be a positive number of pixels or None, got {size!r}")
    width, height = image.size
    scale = size / max(width, height)
    if scale == 1:
        return image
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale > 1:
        return image.resize(target, resample=Image.Resampling.NEAREST)
    # A box reduction by a whole factor first, then Lanczos over at least 3x the
    # target: Pillow's own two-step shrink, ten times faster on a radiograph and
    # indistinguishable from one Lanczos pass.
    return image.resize(target, resample=Image.Resampling.LANCZOS, reducing_gap=3.0)


def render_dataset(
    ds: Dataset,
    *,
    size: int | None = 256,
    media_type: str = "image/png",
    frame: int = 0,
    window: tuple[float, float] | None = None,
    quality: int = 90,
) -> bytes:
    """Render one frame of ``ds`` as PNG or JPEG bytes.

    Parameters
    ----------
    ds
        A dataset with pixel data.
    size
        Largest side of the result in pixels; smaller images are enlarged with
        nearest-neighbour (crisp pixels), larger ones shrunk with Lanczos.
        ``None`` keeps the native size.
    media_type
        One of :data:`MEDIA_TYPES`.
    frame, window
        As for :func:`to_display_array`.
    quality
        JPEG quality, 1–100 (ignored for PNG).

    Returns
    -------
    bytes
        The encoded image.

    Raises
    ------
    RenderError
        Unsupported ``media_type``, bad ``size`` or ``quality``, or a frame that
        cannot be rendered (see :func:`to_display_array`).

    Examples
    --------
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    >>> render_dataset(ds, size=32, media_type="image/jpeg")[:2]
    b'\\xff\\xd8'
    """
    image, _ = render_frame(
        ds, size=size, media_type=media_type, frame=frame, window=window, quality=quality
    )
    return image


def render_frame(
    ds: Dataset,
    *,
    size: int | None = 256,
    media_type: str = "image/png",
    frame: int = 0,
    window: tuple[float, float] | None = None,
    quality: int = 90,
) -> tuple[bytes, AppliedWindow]:
    """:func:`render_dataset` and :func:`applied_window` from one decode of the frame.

    Examples
    --------
    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
    >>> image, applied = render_frame(ds, size=32)
    >>> image[:4], applied
    (b'\\x89PNG', AppliedWindow(source='dataset', center=600.0, width=1600.0))
    """
    if media_type not in _PIL_FORMATS:
        raise RenderError(f"media type {media_type!r} is not supported; use one of {MEDIA_TYPES}")
    if not 1 <= quality <= 100:
        raise RenderError(f"JPEG quality must be between 1 and 100, got {quality!r}")
    hint = size if isinstance(size, int) and not isinstance(size, bool) else None
    pixels, applied = _display_frame(ds, frame, window, hint)
    image = _resize(Image.fromarray(pixels), size)
    buffer = io.BytesIO()
    if media_type == "image/jpeg":
        image.save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format="PNG")
    logger.debug("rendered %s frame %d as %s %s", describe(ds), frame, media_type, image.size)
    return buffer.getvalue(), applied


def render_placeholder(text: str, size: int | None, media_type: str = "image/png") -> bytes:
    """A grey ``size``-pixel tile that says ``text`` (why there is no image).

    Used in place of a thumbnail that cannot be made, so a grid or a list of
    thumbnails keeps one image per row.

    >>> from PIL import Image
    >>> tile = render_placeholder("no pixel data", 64, "image/jpeg")
    >>> Image.open(io.BytesIO(tile)).size
    (64, 64)
    """
    import textwrap

    from PIL import ImageDraw

    if media_type not in _PIL_FORMATS:
        raise RenderError(f"media type {media_type!r} is not supported; use one of {MEDIA_TYPES}")
    side = size or 128
    image = Image.new("L", (side, side), 224)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, side - 1, side - 1), outline=160)
    # About 6 pixels per character in PIL's default font.
    lines = textwrap.wrap(text, width=max(4, (side - 8) // 6))[: max(1, (side - 8) // 12)]
    for number, line in enumerate(lines):
        draw.text((4, 4 + 12 * number), line, fill=64)
    buffer = io.BytesIO()
    image.save(buffer, format=_PIL_FORMATS[media_type])
    return buffer.getvalue()
