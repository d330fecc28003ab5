"""Checks that a retrieved instance is whole and is the one that was asked for.

A server that stops mid-answer, a proxy that cuts a body, or a store that
holds two files under one SOPInstanceUID can all hand back bytes that pydicom
still reads without a word: pydicom stops quietly at the end of the data, so
a file cut at 3,000 bytes reads as a dataset without pixels. These checks run
on every instance a store returns and on every file a download writes or
finds already written:

- the Study, Series and SOP Instance UIDs are the ones asked for
  (:class:`~dicomlab.errors.InstanceMismatchError` otherwise);
- every element has the length its header declares, every sequence parses,
  an image has its Pixel Data, as many bytes of it as its rows, columns,
  samples, bits and frames say (native), or its frames (encapsulated)
  (:class:`~dicomlab.errors.DicomReadError` otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dicomlab.errors import DicomReadError, InstanceMismatchError
from dicomlab.stores.base import InstanceRef

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "check_complete",
    "check_instance",
    "check_patient",
    "check_uids",
    "read_checked",
    "received_ref",
]

UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)  # Pixel Data, Float, Double Float
# The Image Pixel module's attributes: a dataset with all three describes pixels.
IMAGE_KEYWORDS = ("Rows", "Columns", "BitsAllocated")


def received_ref(dataset: Dataset) -> InstanceRef:
    """The Study, Series and SOP Instance UIDs a dataset carries (``""`` where missing)."""
    keywords = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    return InstanceRef(*(str(dataset.get(k, "")) for k in keywords))


def check_uids(asked: InstanceRef, dataset: Dataset, source: str) -> None:
    """Refuse a dataset whose UIDs are not the ones asked for.

    Raises
    ------
    InstanceMismatchError
        Naming the asked and the received UIDs, and where the dataset came from.
    """
    received = received_ref(dataset)
    if received != asked:
        raise InstanceMismatchError(
            f"{source} holds another instance than the one asked for: asked study "
            f"{asked.study!r}, series {asked.series!r}, instance {asked.instance!r}; received "
            f"study {received.study!r}, series {received.series!r}, instance "
            f"{received.instance!r}. Check the store for two instances sharing one "
            "SOPInstanceUID, or a server or proxy answering for another",
            asked=asked,
            received=received,
        )


def check_patient(asked: InstanceRef, dataset: Dataset, patient: str | None, source: str) -> None:
    """Refuse a dataset of another patient than the row that asked for it names.

    Two files can share all three UIDs (a broken anonymiser, a copied
    study): the UIDs cannot tell them apart, the PatientID a row carries can.
    ``patient=None`` checks nothing.

    Raises
    ------
    InstanceMismatchError
        Naming the instance, the asked and the received PatientID.
    """
    received = str(dataset.get("PatientID", ""))
    if patient is not None and received != patient:
        raise InstanceMismatchError(
            f"{source} is instance {asked.instance!r} of patient {received!r}, but the row "
            f"asked for patient {patient!r}'s: two instances share these UIDs. Nothing is "
            "saved for it; tell them apart in the store (e.g. re-identify one) first",
            asked=asked,
            received=received_ref(dataset),
        )


def _short_element(dataset: Dataset) -> str | None:
    """The first element (at any depth) whose value is shorter than its header says."""
    from pydicom.dataelem import RawDataElement

    for tag in list(dataset.keys()):
        raw = dataset.get_item(tag)
        if isinstance(raw, RawDataElement):
            declared, value = raw.length, raw.value
            if declared != UNDEFINED_LENGTH and value is not None and len(value) < declared:
                return f"element {tag} has {len(value)} of its {declared} bytes"
    return None


def _pixel_problem(dataset: Dataset) -> str | None:
    """Why the pixel data of an image is missing or short, or ``None`` if it is whole."""
    from pydicom.encaps import generate_frames
    from pydicom.pixels.utils import get_expected_length

    if not all(k in dataset for k in IMAGE_KEYWORDS):
        return None  # no Image Pixel module: nothing to count
    if not any(tag in dataset for tag in PIXEL_TAGS):
        return "an image without its Pixel Data (the data ends before it)"
    if 0x7FE00010 not in dataset:
        return None
    pixels = dataset.PixelData
    frames = int(dataset.get("NumberOfFrames") or 1)
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_encapsulated:
        found = sum(1 for _ in generate_frames(pixels, number_of_frames=frames))
        return None if found >= frames else f"{found} of its {frames} frames"
    expected = int(get_expected_length(dataset, unit="bytes"))
    return None if len(pixels) >= expected else f"{len(pixels)} of {expected} pixel bytes"


def check_complete(dataset: Dataset, source: str) -> None:
    """Refuse a dataset that ends early (short element, broken sequence, short pixels).

    Raises
    ------
    DicomReadError
        Naming ``source`` and what is missing.
    """
    try:
        problem = _short_element(dataset)
        if problem is None:
            for _ in dataset.iterall():  # converts every value: a cut sequence fails here
                pass
            problem = _pixel_problem(dataset)
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        raise DicomReadError(
            f"{source} is incomplete or damaged: {problem}; fetch it again",
            path=source,
        )


def check_instance(asked: InstanceRef, dataset: Dataset, source: str) -> None:
    """:func:`check_complete` then :func:`check_uids` (a cut file is reported as cut)."""
    check_complete(dataset, source)
    check_uids(asked, dataset, source)


def read_checked(path: str | os.PathLike[str], asked: InstanceRef) -> Dataset:
    """Read a Part 10 file whole and check it is complete and the instance asked for.

    Raises
    ------
    DicomReadError
        The file is not DICOM, or is cut short or damaged.
    InstanceMismatchError
        It holds another instance.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    source = str(Path(path))
    try:
        dataset = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DicomReadError(
            f"{source} is not a readable DICOM file: {type(exc).__name__}: {exc}", path=source
        ) from exc
    check_instance(asked, dataset, source)
    return dataset
