"""A realistic synthetic cohort: full-size CT, MR, CR and multi-frame US, in five transfer syntaxes.

For benchmarks of what dominates real thumbnails and viewers: decoding,
windowing and downsampling a 512x512 CT slice or a 2,500x2,048 radiograph, and
decompressing RLE, JPEG-LS, JPEG 2000 and JPEG. Pixels come from
:mod:`dicomlab.samples.phantoms` (anatomy-like, in HU for CT); headers start
from pydicom's ``CT_small.dcm`` (its full header: 258 elements, a sequence and
GE private blocks), given new identities, UIDs and image elements, plus
sequences of their own. Everything is derived from the seed and the
instance's position: the same arguments give byte-identical files.

Compressed syntaxes are encoded by pydicom's encoders with the plugins that
also decode them (pylibjpeg-rle, pyjpegls for JPEG-LS, pylibjpeg-openjpeg for
JPEG 2000); JPEG baseline (8-bit, lossy) by Pillow, its frames stored with a
rescale that keeps the modality units (HU for CT).

>>> ds = build_image("CT", index=3, syntax="rle", scale=0.125)
>>> ds.Rows, ds.file_meta.TransferSyntaxUID.name
(64, 'RLE Lossless')
>>> int(ds.pixel_array.max()) - 1024 > 200      # bone, in HU
True
"""

from __future__ import annotations

import copy
import functools
import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from dicomlab.errors import InvalidRequestError
from dicomlab.samples import phantoms
from dicomlab.samples.synthetic import synthetic_uid

__all__ = [
    "KINDS",
    "SYNTAXES",
    "ImageKind",
    "build_image",
    "generate_realistic",
    "generate_rich_headers",
]

logger = logging.getLogger(__name__)

#: Transfer syntaxes by short name; ``explicit`` is uncompressed.
SYNTAXES: dict[str, UID] = {
    "explicit": ExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpegls": JPEGLSLossless,
    "j2k": JPEG2000Lossless,
    "jpeg": JPEGBaseline8Bit,
}
LOSSLESS = ("explicit", "rle", "jpegls", "j2k")
_PRIVATE_CREATOR = "DICOMLAB SYNTHETIC"


@dataclass(frozen=True)
class ImageKind:
    """One kind of image in the cohort: its modality, SOP class and full size."""

    modality: str
    sop_class: str
    rows: int
    columns: int
    frames: int
    bits_stored: int
    window: tuple[float, float]
    description: str


#: The image kinds at their real sizes (``scale`` in :func:`build_image` shrinks them).
KINDS: dict[str, ImageKind] = {
    "CT": ImageKind("CT", "1.2.840.10008.5.1.4.1.1.2", 512, 512, 1, 12, (40, 400), "CT chest"),
    "MR": ImageKind("MR", "1.2.840.10008.5.1.4.1.1.4", 256, 256, 1, 12, (600, 1200), "MR brain"),
    "CR": ImageKind("CR", "1.2.840.10008.5.1.4.1.1.1", 2500, 2048, 1, 12, (2048, 4096), "CR chest"),
    "US": ImageKind("US", "1.2.840.10008.5.1.4.1.1.3.1", 480, 640, 16, 8, (128, 256), "US heart"),
}


@functools.lru_cache(maxsize=1)
def _ct_small_header() -> Dataset:
    """CT_small.dcm without its pixels: the template every header starts from."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm", download=False)))
    del ds.PixelData
    return ds


def _uid(seed: int, kind: str, syntax: str, *parts: object) -> str:
    return synthetic_uid(seed, "realistic", kind, syntax, *parts)


def _identity(ds: Dataset, kind: ImageKind, name: str, syntax: str, seed: int) -> None:
    """Patient, study and series: one study per kind, one series per transfer syntax."""
    ds.PatientName = f"Synthetic^{name}{seed}"
    ds.PatientID = f"SYNR{seed:03d}{name}"
    ds.OtherPatientIDsSequence = Sequence()  # CT_small's names its own patient
    ds.StudyInstanceUID = _uid(seed, name, "", "study")
    ds.SeriesInstanceUID = _uid(seed, name, syntax, "series")
    ds.FrameOfReferenceUID = _uid(seed, name, "", "frame")
    ds.StudyDescription = kind.description
    ds.SeriesDescription = f"{kind.description} ({syntax})"
    ds.SeriesNumber = list(SYNTAXES).index(syntax) + 1
    ds.AccessionNumber = f"R{seed:04d}{list(KINDS).index(name):02d}"
    ds.Modality, ds.SOPClassUID = kind.modality, kind.sop_class
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = f"SYN{name}", "99DICOMLAB"
    code.CodeMeaning = kind.description
    ds.ProcedureCodeSequence = Sequence([code])
    block = ds.private_block(0x0009, _PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", f"{name} {syntax}")


def _instance(ds: Dataset, kind: ImageKind, name: str, syntax: str, index: int, seed: int) -> None:
    """The elements that differ between instances of a series."""
    ds.SOPInstanceUID = _uid(seed, name, syntax, "instance", index)
    ds.InstanceNumber = index + 1
    ds.InstanceCreationDate = ds.ContentDate = "20240105"
    thickness = 1.25
    ds.SliceThickness = thickness
    if kind.frames == 1 and name != "CR":
        z = round(-200.0 + index * thickness, 3)
        ds.ImagePositionPatient = [-250.0, -250.0, z]
        ds.SliceLocation = z
    if index > 0:
        ref = Dataset()
        ref.ReferencedSOPClassUID = kind.sop_class
        ref.ReferencedSOPInstanceUID = _uid(seed, name, syntax, "instance", 0)
        ds.ReferencedImageSequence = Sequence([ref])


def _pixels(name: str, rows: int, columns: int, index: int, slices: int, seed: int) -> np.ndarray:
    """Stored values: ``(rows, columns)`` or ``(frames, rows, columns)``."""
    position = index / max(1, slices - 1)
    if name == "CT":
        return (phantoms.ct_slice(rows, columns, position=position, seed=seed) + 1024).astype(
            np.uint16
        )
    if name == "MR":
        return phantoms.mr_slice(rows, columns, position=position, seed=seed)
    if name == "CR":
        return phantoms.cr_image(rows, columns, seed=seed + index)
    frames = [phantoms.us_frame(rows, columns, frame=f, seed=seed + index) for f in range(16)]
    return np.stack(frames)


def _image_elements(ds: Dataset, kind: ImageKind, arr: np.ndarray) -> None:
    """Rows, columns, bits, photometric, rescale and window for uncompressed ``arr``."""
    ds.Rows, ds.Columns = arr.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = 8 if kind.bits_stored == 8 else 16
    ds.BitsStored, ds.HighBit = kind.bits_stored, kind.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter, ds.WindowWidth = kind.window
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024 if kind.modality == "CT" else 0
    if kind.modality == "CT":
        ds.RescaleType = "HU"
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
        ds.FrameTime = 33.3
        ds.FrameIncrementPointer = 0x00181063  # FrameTime
    ds.PixelData = arr.astype(np.uint8 if ds.BitsAllocated == 8 else "<u2").tobytes()
    ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"


def _to_jpeg_baseline(ds: Dataset, arr: np.ndarray) -> None:
    """Store ``arr`` as 8-bit JPEG baseline frames, rescaled to keep modality units."""
    from PIL import Image
    from pydicom.encaps import encapsulate

    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
    if arr.dtype == np.uint8:
        eight, step, low = arr, 1.0, 0.0
    else:  # map the stored range onto 0..255; RescaleSlope/Intercept undo it
        low, high = float(arr.min()), float(arr.max())
        step = max(1.0, (high - low) / 255.0)
        eight = np.clip(np.rint((arr - low) / step), 0, 255).astype(np.uint8)
    frames = eight if eight.ndim == 3 else eight[None]
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.RescaleSlope, ds.RescaleIntercept = step * slope, low * slope + intercept
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ratio = frames.size * (2 if arr.dtype != np.uint8 else 1) / sum(map(len, encoded))
    ds.LossyImageCompressionRatio = f"{ratio:.2f}"[:16]
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit


def build_image(
    kind: str,
    *,
    index: int = 0,
    syntax: str = "explicit",
    seed: int = 0,
    scale: float = 1.0,
    slices: int = 200,
) -> Dataset:
    """Instance ``index`` of the ``kind`` series in ``syntax``, a Part 10 dataset.

    Parameters
    ----------
    kind
        One of :data:`KINDS`: ``"CT"`` (512x512, HU), ``"MR"`` (256x256),
        ``"CR"`` (2,500x2,048) or ``"US"`` (16 frames of 480x640, 8-bit).
    index
        0-based position in the series (slice position for CT and MR).
    syntax
        One of :data:`SYNTAXES`.
    seed
        Changes every UID and every pixel.
    scale
        Shrinks rows and columns (``0.125`` gives a 64x64 CT), for tests.
    slices
        The series length that ``index`` is a position in (anatomy varies along it).

    Raises
    ------
    InvalidRequestError
        An unknown ``kind`` or ``syntax``, or a ``scale`` that leaves no pixel.
    """
    if kind not in KINDS:
        raise InvalidRequestError(f"unknown image kind {kind!r}; use one of {', '.join(KINDS)}")
    if syntax not in SYNTAXES:
        raise InvalidRequestError(
            f"unknown transfer syntax {syntax!r}; use one of {', '.join(SYNTAXES)}"
        )
    spec = KINDS[kind]
    rows, columns = round(spec.rows * scale), round(spec.columns * scale)
    if rows < 8 or columns < 8:
        raise InvalidRequestError(
            f"scale {scale!r} leaves a {rows}x{columns} image; use a larger scale"
        )
    ds = copy.deepcopy(_ct_small_header())
    _identity(ds, spec, kind, syntax, seed)
    _instance(ds, spec, kind, syntax, index, seed)
    arr = _pixels(kind, rows, columns, index, slices, seed)
    _image_elements(ds, spec, arr)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if syntax == "jpeg":
        _to_jpeg_baseline(ds, arr)
    elif syntax != "explicit":
        ds.compress(SYNTAXES[syntax], arr, generate_instance_uid=False)
    return ds


def generate_realistic(
    folder: str | os.PathLike[str],
    *,
    kinds: Iterable[str] = ("CT", "MR", "CR", "US"),
    syntaxes: Iterable[str] = tuple(SYNTAXES),
    instances: int | dict[str, int] = 4,
    seed: int = 0,
    scale: float = 1.0,
) -> list[Path]:
    """Write ``folder/KIND/SYNTAX/IMnnnnn.dcm`` for each kind and syntax; return the paths.

    ``instances`` is the series length, for every kind or by kind (a
    radiograph series of 2 and a CT series of 200, say).

    Examples
    --------
    >>> paths = generate_realistic(".", kinds=["MR"], syntaxes=["explicit", "j2k"],
    ...                            instances=2, scale=0.25)
    >>> len(paths), paths[0].parts[-3:]
    (4, ('MR', 'explicit', 'IM00000.dcm'))
    """
    root = Path(folder)
    paths = []
    for kind in kinds:
        count = instances[kind] if isinstance(instances, dict) else instances
        for syntax in syntaxes:
            where = root / kind / syntax
            where.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                ds = build_image(
                    kind, index=index, syntax=syntax, seed=seed, scale=scale, slices=count
                )
                path = where / f"IM{index:05d}.dcm"
                ds.save_as(path, enforce_file_format=True)
                paths.append(path)
    logger.info("wrote %d realistic synthetic instances under %s", len(paths), root)
    return paths


def generate_rich_headers(
    folder: str | os.PathLike[str], *, n: int, seed: int = 0, per_series: int = 50
) -> int:
    """Write ``n`` CT files shaped like pydicom's ``CT_small.dcm``; return the count.

    Each file has CT_small's full header (258 elements, GE private blocks) and
    the realistic cohort's own sequences, a 128x128 slice, and new UIDs: a
    study per series of ``per_series`` slices, ``folder/STnnnnnn/IMnnnnn.dcm``.
    For export benchmarks at scale: the slices of a series share their pixels
    (a series is built once; each file only gets its own UIDs and position).

    Examples
    --------
    >>> generate_rich_headers("rich", n=3, per_series=2)
    3
    >>> sorted(str(p.relative_to("rich")) for p in Path("rich").rglob("*.dcm"))[:2]
    ['ST000000/IM00000.dcm', 'ST000000/IM00001.dcm']
    """
    root = Path(folder)
    for start in range(0, n, per_series):
        series = start // per_series
        template = build_image("CT", index=series, seed=seed + series, scale=0.25, slices=n)
        where = root / f"ST{series:06d}"
        where.mkdir(parents=True, exist_ok=True)
        for index in range(min(per_series, n - start)):
            uid = UID(_uid(seed + series, "CT", "explicit", "instance", index))
            template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = uid
            template.InstanceNumber = index + 1
            z = round(-200.0 + index * 1.25, 3)
            template.ImagePositionPatient, template.SliceLocation = [-250.0, -250.0, z], z
            template.save_as(where / f"IM{index:05d}.dcm", enforce_file_format=True)
    return n
