"""Display values of greyscale frames: Modality LUT, VOI transform, MONOCHROME1 inversion.

The steps :mod:`dicomlab.core.render` applies to a decoded greyscale frame,
and :class:`AppliedWindow`, which says which VOI transform a frame got. Large
integer frames go through a table of their stored values (one entry per
value in the frame's range): the same pixels for a fraction of the work.

>>> import numpy as np
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
>>> ds.WindowCenter, ds.WindowWidth = 40, 400
>>> shown, applied = greyscale(np.array([[0, 1024, 1064, 4095]], dtype=np.uint16), ds, None)
>>> shown.tolist(), applied.source
([[0, 102, 128, 255]], 'dataset')
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut, apply_voi, apply_windowing

from dicomlab.errors import RenderError

__all__ = ["AppliedWindow", "describe", "greyscale"]

logger = logging.getLogger(__name__)


def describe(ds: Dataset) -> str:
    """Name the instance in error messages."""
    uid = ds.get("SOPInstanceUID")
    return f"instance {uid}" if uid else "dataset without a SOPInstanceUID"


def _window_to_uint8(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """Map ``values`` through a VOI window onto 0–255 with pydicom's windowing."""
    voi = Dataset()
    voi.PhotometricInterpretation = "MONOCHROME2"
    voi.BitsStored, voi.PixelRepresentation = 8, 0  # output range 0..255
    voi.WindowCenter, voi.WindowWidth = float(center), float(width)
    voi.VOILUTFunction = function
    return apply_windowing(values, voi)


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``low..high`` linearly onto 0–255; a flat range becomes mid-grey."""
    if not np.isfinite(low) or not np.isfinite(high) or high <= low:
        return np.full(values.shape, 128.0)
    return (values.astype(np.float64) - low) * (255.0 / (high - low))


def _first(value: object) -> float:
    """The first value of a possibly multi-valued DS element."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return float(value[0])
    return float(value)  # type: ignore[arg-type]


class AppliedWindow(NamedTuple):
    """The VOI transform a frame was shown with.

    ``source`` is ``"given"`` (the caller's window), ``"dataset"`` (its
    WindowCenter/WindowWidth), ``"voi-lut"`` (its VOI LUT Sequence), ``"range"``
    (its own minimum to maximum) or ``"colour"`` (no VOI: a colour image).
    ``center`` and ``width`` are in modality units, ``None`` for a VOI LUT or
    a colour image.
    """

    source: str
    center: float | None = None
    width: float | None = None


def _dataset_voi(values: np.ndarray, ds: Dataset) -> tuple[np.ndarray, AppliedWindow] | None:
    """Apply the dataset's own window or VOI LUT, or return ``None`` if it has none."""
    if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        try:
            center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
            function = str(ds.get("VOILUTFunction") or "LINEAR").upper()
            shown = _window_to_uint8(values, center, width, function)
            return shown, AppliedWindow("dataset", center, width)
        except ValueError as exc:
            logger.warning("ignoring the window of %s: %s", describe(ds), exc)
    items = ds.get("VOILUTSequence")
    if items and "LUTData" in items[0] and "LUTDescriptor" in items[0]:
        try:
            entries, first_mapped = items[0].LUTDescriptor[:2]
            table = apply_voi(np.arange(first_mapped, first_mapped + (entries or 2**16)), ds)
            mapped = apply_voi(np.rint(values).astype(np.int64), ds)
        except (NotImplementedError, ValueError, AttributeError, TypeError) as exc:
            logger.warning("ignoring the VOI LUT of %s: %s", describe(ds), exc)
            return None
        return _stretch(mapped, float(table.min()), float(table.max())), AppliedWindow("voi-lut")
    return None


def _modality_values(arr: np.ndarray, ds: Dataset) -> np.ndarray:
    """Stored values in modality units: the Modality LUT, and an RT dose's grid scaling."""
    values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
    scaling = ds.get("DoseGridScaling") if ds.get("Modality") == "RTDOSE" else None
    try:
        values = values * float(scaling) if scaling not in (None, "") else values
    except (TypeError, ValueError):
        logger.warning("ignoring the DoseGridScaling %r of %s", scaling, describe(ds))
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def _voi(
    values: np.ndarray, ds: Dataset, window: tuple[float, float] | None
) -> tuple[np.ndarray, AppliedWindow]:
    """The VOI transform of one frame's modality values, and which one it was."""
    if window is not None:
        center, width = (float(v) for v in window)
        if not width > 0:
            raise RenderError(f"window width must be positive, got {width!r}")
        function = "LINEAR" if width >= 1 else "LINEAR_EXACT"
        return _window_to_uint8(values, center, width, function), AppliedWindow(
            "given", center, width
        )
    voi = _dataset_voi(values, ds)
    if voi is not None and np.ptp(voi[0]) < 2 and np.ptp(values) > 0:
        # The stored window saturates the whole frame (common in downsampled or
        # derived images): a flat thumbnail shows nothing, so fall back to min–max.
        logger.info("the stored window of %s flattens the image; using min-max", describe(ds))
        voi = None
    if voi is not None:
        return voi
    low, high = float(values.min()), float(values.max())
    return _stretch(values, low, high), AppliedWindow("range", (low + high) / 2, high - low)


def greyscale(
    arr: np.ndarray, ds: Dataset, window: tuple[float, float] | None
) -> tuple[np.ndarray, AppliedWindow]:
    """Modality LUT, VOI and MONOCHROME1 inversion of one greyscale frame, and its window.

    Integer frames go through a table with one entry per stored value from
    the frame's minimum to its maximum, computed by the same float steps as
    the pixels would be: the same result, pixel for pixel (every step is
    per value, and the monotonic windows see the same extremes), for a
    fraction of the work on large frames.
    """
    table = _value_table(arr, ds, window)
    if table is not None:
        low = arr.min()
        lut, applied = _display(table, ds, window)
        return lut[(arr - low).astype(np.intp, copy=False)], applied
    return _display(arr, ds, window)


def _value_table(
    arr: np.ndarray, ds: Dataset, window: tuple[float, float] | None
) -> np.ndarray | None:
    """Every stored value from ``arr``'s minimum to maximum, when a table gives the same result.

    Not for float frames, a Modality LUT Sequence (not linear), a VOI LUT
    Sequence that may be used (not monotonic: the flat-window check needs
    the frame's own values), or a value range larger than the frame.
    """
    if arr.dtype.kind not in "iu" or arr.size < 4096 or "ModalityLUTSequence" in ds:
        return None
    if window is None and "VOILUTSequence" in ds:
        return None
    low, high = int(arr.min()), int(arr.max())
    if high - low + 1 > arr.size:
        return None
    return np.arange(low, high + 1, dtype=arr.dtype)


def _display(
    arr: np.ndarray, ds: Dataset, window: tuple[float, float] | None
) -> tuple[np.ndarray, AppliedWindow]:
    display, applied = _voi(_modality_values(arr, ds), ds, window)
    out: np.ndarray = np.clip(np.rint(display), 0, 255).astype(np.uint8)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        out = np.invert(out)  # 255 - value for uint8
    return out, applied
