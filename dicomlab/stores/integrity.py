"""Checks that a retrieved instance is whole and is the one that was asked for.

A server that stops mid-answer, a proxy that cuts a body, or a store that
holds two files under one SOPInstanceUID can all hand back bytes that pydicom
still reads without a word: pydicom stops quietly at the end of the data, so
a file cut at 3,000 bytes reads as a dataset without pixels. These checks run
on every instance a store returns and on every file a download writes or
finds already written:

- the Study, Series and SOP Instance UIDs are the ones asked for
  (:class:`~dicomlab.errors.InstanceMismatchError` otherwise);
- every element has the length its header declares; every sequence
  parses; an image (a dataset with Rows and Columns) has
  its Pixel Data: as many bytes as its rows, columns,
  samples, bits and frames say (native), or whole fragments, its frames,
  and for the JPEG family an end-of-image marker (encapsulated)
  (:class:`~dicomlab.errors.DicomReadError` otherwise).

A cut inside an element's header leaves a few bytes pydicom skips without a
word: the last element's end is compared with the size of the data read.
Over DICOMweb the multipart framing catches a cut body first
(:mod:`dicomlab.stores.answers`).
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
# A dataset with both describes an image, which then needs its Pixel Data.
IMAGE_KEYWORDS = ("Rows", "Columns")


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


def _is_sequence(raw: object, tag: int) -> bool:
    """Whether a raw element is a sequence (its VR, or the dictionary's for implicit VR)."""
    vr = getattr(raw, "VR", None)
    if vr is None:
        from pydicom.datadict import dictionary_VR

        try:
            vr = dictionary_VR(tag)
        except KeyError:  # a private or unknown tag: only its length can be checked
            return False
    return vr == "SQ"


def _short_element(dataset: Dataset) -> str | None:
    """The first element (at any depth) whose value is shorter than its header says.

    Only sequences are converted (a cut item fails to parse); other values are
    checked by their length alone, which is cheap.
    """
    from pydicom.dataelem import RawDataElement

    for tag in list(dataset.keys()):
        raw = dataset.get_item(tag)
        if isinstance(raw, RawDataElement):
            declared, value = raw.length, raw.value
            if declared != UNDEFINED_LENGTH and value is not None and len(value) < declared:
                return f"element {tag} has {len(value)} of its {declared} bytes"
            if not _is_sequence(raw, int(tag)):
                continue
        elif getattr(raw, "VR", None) != "SQ":
            continue
        for item in dataset[tag].value:  # converting a cut sequence raises here
            problem = _short_element(item)
            if problem is not None:
                return problem
    return None


def _fragments_problem(pixels: bytes, syntax: object) -> str | None:
    """Why encapsulated pixel data ends early (a fragment cut short, or a JPEG not ended)."""
    import struct

    position, last = 0, b""
    while position + 8 <= len(pixels):
        tag, length = struct.unpack_from("<II", pixels, position)
        if tag == 0xE0DDFFFE:  # the sequence delimiter: nothing follows
            break
        if position + 8 + length > len(pixels):
            return f"a pixel data fragment has {len(pixels) - position - 8} of its {length} bytes"
        last = pixels[position + 8 : position + 8 + length]
        position += 8 + length
    jpeg = str(syntax).startswith("1.2.840.10008.1.2.4.")  # JPEG, JPEG-LS, JPEG 2000 family
    # The marker ends the codestream; some writers pad after it (0x00 or 0xFF).
    if jpeg and last and b"\xff\xd9" not in last[-8:]:
        return "the last pixel data fragment does not end its image (no end-of-image marker)"
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
    if "BitsAllocated" not in dataset:
        return "an image without Bits Allocated (the data ends before it)"
    pixels = dataset.PixelData
    try:
        frames = int(dataset.get("NumberOfFrames") or 1)
    except (ValueError, TypeError):  # a malformed value: count one frame at least
        frames = 1
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_encapsulated:
        problem = _fragments_problem(pixels, syntax)
        if problem is not None:
            return problem
        found = sum(1 for _ in generate_frames(pixels, number_of_frames=frames))
        return None if found >= frames else f"{found} of its {frames} frames"
    try:
        expected = int(get_expected_length(dataset, unit="bytes"))
    except (ValueError, TypeError, AttributeError, KeyError):  # a bad Rows (say): no geometry
        return None
    return None if len(pixels) >= expected else f"{len(pixels)} of {expected} pixel bytes"


def _unread_tail(dataset: Dataset, size: int | None) -> str | None:
    """Bytes after the last whole element (a cut inside an element's header), if any.

    ``size`` is the length of the data the dataset was read from (the file's
    size when ``None`` and the dataset has a file name). Only known for data
    read as is (not deflated) whose last element is still unconverted.
    """
    from pydicom.dataelem import RawDataElement

    if size is None:
        name = getattr(dataset, "filename", None)
        if not isinstance(name, str) or not os.path.isfile(name):
            return None
        size = os.path.getsize(name)
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if not dataset.keys() or (syntax is not None and syntax.is_deflated):
        return None
    last = dataset.get_item(max(map(int, list(dataset.keys()))))  # ints: cheap to compare
    if not isinstance(last, RawDataElement) or last.value is None:
        return None
    if last.length == UNDEFINED_LENGTH:
        end = last.value_tell + len(last.value) + 8  # the value, then its delimiter item
    else:
        end = last.value_tell + last.length
    if end == size:
        return None
    if end > size:
        return f"element {last.tag} ends {end - size} bytes after the data (no delimiter)"
    return f"{size - end} bytes after the last whole element (an element cut in its header)"


def check_complete(dataset: Dataset, source: str, size: int | None = None) -> None:
    """Refuse a dataset that ends early (short element, broken sequence, short pixels).

    ``size``: the length of the bytes it was read from, to see a cut inside an
    element's header (the file's size by default, when it was read from one).

    Raises
    ------
    DicomReadError
        Naming ``source`` and what is missing.
    """
    try:
        problem = _short_element(dataset) or _unread_tail(dataset, size) or _pixel_problem(dataset)
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        raise DicomReadError(
            f"{source} is incomplete or damaged: {problem}; fetch it again",
            path=source,
        )


def check_instance(
    asked: InstanceRef, dataset: Dataset, source: str, size: int | None = None
) -> None:
    """:func:`check_complete` then :func:`check_uids` (a cut file is reported as cut)."""
    check_complete(dataset, source, size)
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
