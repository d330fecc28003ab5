"""Reading one DICOM file's header within bounds: the metadata the export and the index need.

:func:`read_instance_metadata` never raises for a bad file: it says why the
file is not an instance (content), or that it could not be opened or read
(transport, :attr:`MetadataItem.transport <dicomlab.stores.base.MetadataItem>`).
Only the header is read: pixel data never, values over
:data:`~dicomlab.rows.flatten.MAX_VALUE_BYTES` are passed over (deferred), and
pydicom gives up past :data:`MAX_HEADER_ELEMENTS` elements or
:data:`MAX_HEADER_BYTES` bytes of values.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from dicomlab.errors import DicomReadError
from dicomlab.rows.flatten import MAX_VALUE_BYTES
from dicomlab.stores.base import MetadataItem
from dicomlab.stores.localfiles import WHOLE_FILE_BYTES, open_regular

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "DICOMDIR_SOP_CLASS",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_ELEMENTS",
    "header_bounds",
    "parse_instance_metadata",
    "read_instance_metadata",
]

logger = logging.getLogger(__name__)
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"


#: Top-level elements read before pixel data, at most: a real header has a few
#: thousand; a file of zeros after ``DICM`` reads as millions of empty ones.
MAX_HEADER_ELEMENTS = 100_000
#: Bytes of values read before pixel data, at most (values over
#: :data:`~dicomlab.rows.flatten.MAX_VALUE_BYTES` are passed over unread, and not counted).
MAX_HEADER_BYTES = 64 << 20


def read_instance_metadata(
    path: str | os.PathLike[str], source: str, *, data: bytes | None = None
) -> MetadataItem:
    """Read one file's metadata (no pixel data), or say why it is not an instance.

    Never raises for a bad file: a file that is not DICOM, is truncated, is a
    DICOMDIR, has no SOPInstanceUID or is not a regular file (a FIFO, a
    device) comes back with ``error`` set; a file that cannot be opened or
    read (permissions, a broken link, an I/O error) also has ``transport`` set:
    it may well be a good instance. Only the header is read, within
    :data:`MAX_HEADER_ELEMENTS` and :data:`MAX_HEADER_BYTES`. ``data``: the
    file's bytes when the caller has read them already.

    Examples
    --------
    >>> item = read_instance_metadata("/no/such/file.dcm", "file.dcm")
    >>> item.error, item.transport
    ("could not be opened: [Errno 2] No such file or directory: '/no/such/file.dcm'", True)
    """
    if data is not None:
        return parse_instance_metadata(io.BytesIO(data), source, len(data))
    try:
        handle = open_regular(path)
    except DicomReadError as exc:  # a FIFO, a device, a folder: never read
        return MetadataItem(source, error=str(exc))
    except OSError as exc:
        return MetadataItem(source, error=f"could not be opened: {exc}", transport=True)
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            if size <= WHOLE_FILE_BYTES:
                return parse_instance_metadata(io.BytesIO(handle.read()), source, size)
        except OSError as exc:
            return MetadataItem(source, error=f"could not be read: {exc}", transport=True)
        return parse_instance_metadata(handle, source, size)


class _HeaderTooLarge(Exception):
    """The header goes on past the bounds: not a DICOM instance we read."""


def parse_instance_metadata(handle: BinaryIO, source: str, size: int) -> MetadataItem:
    """The metadata of the file open as ``handle`` (``size`` bytes long), as in
    :func:`read_instance_metadata`.

    Large values (over :data:`~dicomlab.rows.flatten.MAX_VALUE_BYTES`, dropped by
    the export anyway) are deferred: passed over, never read.
    """
    from pydicom.errors import InvalidDicomError
    from pydicom.filereader import read_partial

    bounded = _BoundedReader(handle)
    bare = False
    try:
        try:
            ds = read_partial(
                bounded,  # type: ignore[arg-type]  # read, seek and tell are what it uses
                header_bounds(),
                defer_size=MAX_VALUE_BYTES,
                force=False,
            )
        except InvalidDicomError:
            # No Part 10 header (preamble, "DICM", group 0002): read the bare data set,
            # which then has to pass the same checks as any instance.
            handle.seek(0)
            bounded, bare = _BoundedReader(handle), True
            ds = complete_file_meta(  # type: ignore[assignment]  # a FileDataset still
                read_partial(
                    bounded,  # type: ignore[arg-type]
                    header_bounds(),
                    defer_size=MAX_VALUE_BYTES,
                    force=True,
                )
            )
        if isinstance(getattr(handle, "name", None), str):
            # A value read later (a deferred sequence) comes from the file, opened again.
            ds.fileobj_type, ds.buffer = open, None
    except _HeaderTooLarge as exc:
        return MetadataItem(source, error=f"not read as DICOM: {exc}")
    except OSError as exc:
        if exc.errno is not None and not isinstance(handle, io.BytesIO):
            return MetadataItem(source, error=f"could not be read: {exc}", transport=True)
        return MetadataItem(source, error=f"not readable as DICOM: {exc}")
    except (InvalidDicomError, ValueError, EOFError, KeyError) as exc:
        # pydicom's hint to pass force=True names an option our callers do not have.
        reason = str(exc).split(" Use force=True")[0]
        if bare:
            return MetadataItem(source, error=f"{_NO_HEADER}, nor as a bare data set: {reason}")
        return MetadataItem(source, error=f"not readable as DICOM: {reason}")
    except Exception as exc:  # a malformed file must never stop an export
        logger.debug("reading %s failed", source, exc_info=True)
        return MetadataItem(source, error=f"not readable as DICOM: {type(exc).__name__}: {exc}")
    item = _checked(ds, source, size)
    if bare and item.error is not None:
        return MetadataItem(
            source, error=f"{_NO_HEADER}, and read as a bare data set it {item.error}"
        )
    return item


_NO_HEADER = "not readable as DICOM: no Part 10 header (preamble, 'DICM', File Meta Information)"


class _BoundedReader:
    """A file object for pydicom that gives up past the header bounds.

    pydicom reads some runs of elements with no ``stop_when`` (group 0000, for
    one): a file of zeros after ``DICM`` is a billion of them. Every element
    takes a ``read``, so reads are counted, and so are the bytes they return;
    a value pydicom passes over (``defer_size``) is a ``seek``, not counted.
    """

    # Reads per element: the tag and VR, a long length, the value.
    MAX_READS = 3 * MAX_HEADER_ELEMENTS

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._reads = 0
        self._bytes = 0
        name = getattr(raw, "name", None)
        if isinstance(name, str):
            self.name = name

    def read(self, size: int = -1) -> bytes:
        self._reads += 1
        if self._reads > self.MAX_READS:
            raise _HeaderTooLarge(f"over {MAX_HEADER_ELEMENTS} elements before pixel data")
        data = self._raw.read(size)
        self._bytes += len(data)
        if self._bytes > MAX_HEADER_BYTES:
            raise _HeaderTooLarge(f"over {MAX_HEADER_BYTES} bytes of values before pixel data")
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)


def complete_file_meta(ds: Dataset) -> Dataset:
    """Give a data set read without a File Meta Information header the meta it implies.

    Files written without the PS3.10 header (a bare data set, as some archives
    and older tools keep them) carry no transfer syntax: it is the encoding
    pydicom found while reading (implicit or explicit VR, little or big endian;
    a bare data set cannot hold encapsulated pixel data). The SOP Class and
    Instance UIDs come from the data set itself. A data set that has the
    header is returned as it is.

    >>> import pydicom
    >>> from pydicom.data import get_testdata_file
    >>> ds = pydicom.dcmread(get_testdata_file("rtstruct.dcm", download=False), force=True)
    >>> complete_file_meta(ds).file_meta.TransferSyntaxUID.name
    'Implicit VR Little Endian'
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return ds
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    implicit, little = ds.original_encoding
    meta.TransferSyntaxUID = (
        ImplicitVRLittleEndian
        if implicit
        else ExplicitVRLittleEndian
        if little is not False
        else ExplicitVRBigEndian
    )
    for meta_keyword, keyword in (
        ("MediaStorageSOPClassUID", "SOPClassUID"),
        ("MediaStorageSOPInstanceUID", "SOPInstanceUID"),
    ):
        if keyword in ds:
            setattr(meta, meta_keyword, ds[keyword].value)
    return ds


def read_instance_file(path: str) -> Dataset:
    """The whole data set of an instance's file, with or without a Part 10 header.

    >>> from pydicom.data import get_testdata_file
    >>> read_instance_file(get_testdata_file("rtstruct.dcm", download=False)).Modality
    'RTSTRUCT'
    """
    import pydicom

    return complete_file_meta(pydicom.dcmread(path, force=True))


def header_bounds() -> Any:
    """A ``stop_when`` for pydicom: stop at pixel data, give up past the header bounds."""
    seen = [0, 0]  # elements, bytes of values read

    def stop_when(tag: int, vr: str | None, length: int) -> bool:
        if tag in _PIXEL_TAGS:
            return True
        seen[0] += 1
        if length != 0xFFFFFFFF and length <= MAX_VALUE_BYTES:
            seen[1] += length
        if seen[0] > MAX_HEADER_ELEMENTS:
            raise _HeaderTooLarge(f"over {MAX_HEADER_ELEMENTS} elements before pixel data")
        if seen[1] > MAX_HEADER_BYTES:
            raise _HeaderTooLarge(f"over {MAX_HEADER_BYTES} bytes of values before pixel data")
        return False

    return stop_when


_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # where dcmread stops


def _checked(ds: Dataset, source: str, size: int) -> MetadataItem:
    """``ds`` as an item, or why it is not an instance."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("MediaStorageSOPClassUID") == DICOMDIR_SOP_CLASS:
        return MetadataItem(source, error="a DICOMDIR (file-set index), not an instance")
    missing = [
        k for k in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID") if k not in ds
    ]
    if missing:
        return MetadataItem(
            source, error=f"has no {', '.join(missing)}: truncated, or not a DICOM instance"
        )
    short = _cut_short(ds, size)
    if short is not None:
        return MetadataItem(source, error=f"is truncated: {short}")
    return MetadataItem(source, dataset=ds)


def _cut_short(ds: Dataset, size: int) -> str | None:
    """Why the file ends inside an element's value (the last one read), or ``None``."""
    from pydicom.dataelem import RawDataElement

    tags = list(ds.keys())
    if not tags:
        return None
    last = ds.get_item(tags[-1], keep_deferred=True)
    if not isinstance(last, RawDataElement) or last.length in (0xFFFFFFFF, None):
        return None
    if last.value is None:  # deferred: passed over, not read
        have = max(0, min(last.length, size - last.value_tell))
    else:
        have = len(last.value) if isinstance(last.value, (bytes, bytearray)) else last.length
    if have < last.length:
        return f"element {last.tag} holds {have} of its {last.length} bytes"
    return None


def datasets_to_json(items: Iterable[MetadataItem]) -> Iterator[MetadataItem]:
    """``items`` with their Datasets as DICOM JSON (bulk data left out), failures as they are.

    The file meta group comes first, as in the file: a table exported from the
    JSON has the columns of one exported from the files. A value that cannot be
    written as JSON makes its instance a failure of its own.
    """
    for item in items:
        if item.dataset is None:
            yield item
            continue
        try:
            meta = getattr(item.dataset, "file_meta", None)
            found = meta.to_json_dict(bulk_data_element_handler=_no_bulk) if meta else {}
            found |= item.dataset.to_json_dict(bulk_data_element_handler=_no_bulk)
        except Exception as exc:  # one unreadable value must not stop the others
            yield MetadataItem(item.source, error=f"metadata not readable: {exc}")
            continue
        yield MetadataItem(item.source, json=found)


def _no_bulk(element: Any) -> str:
    """Bulk data is not part of exported metadata: left out (as a DICOMweb server does)."""
    return ""
