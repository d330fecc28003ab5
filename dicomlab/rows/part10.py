"""The fast path of an export: one row straight from Part 10 bytes, without a Dataset.

Pure: no I/O. A bare ``dcmread`` builds a raw element per tag and a Dataset
around them; flattening then converts each one. For the common file (explicit
VR, little endian, one character set) the same row comes straight from the
bytes, by the rules of :mod:`dicomlab.rows.placement`. Anything else is
declined, and the caller reads the file with pydicom: the fast path never guesses.
"""

from __future__ import annotations

import functools
import struct
import warnings

from pydicom.charset import convert_encodings
from pydicom.uid import UID

from dicomlab.rows.placement import (
    LEFT_OUT,
    MAX_VALUE_BYTES,
    Level,
    Walk,
    add_sequence,
    close_level,
    finish_row,
    other_texts,
    place,
    tag_info,
)
from dicomlab.rows.schema import EXCLUDED_VRS, FlatRow
from dicomlab.rows.values import decode_raw

__all__ = ["MoreBytesNeeded", "flatten_part10"]

_ELEMENT = struct.Struct("<HH2sH")
_TAG_LENGTH = struct.Struct("<HHL")
_LONG_LENGTH = struct.Struct("<L")
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # where dcmread stops
_CHARSET_TAG = 0x00080005
_TRANSFER_SYNTAX_TAG = 0x00020010
_SOP_CLASS_TAG = 0x00020002
_DICOMDIR = "1.2.840.10008.1.3.10"
_REQUIRED = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
_TWO_LETTER_VRS = (
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    "US UR UT UV"
)
_VRS = {vr.encode(): vr for vr in _TWO_LETTER_VRS.split()}  # UN is left out: declined
# VRs with a 2-byte reserved field and a 4-byte length
_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_CHARSET_DEPENDENT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_DEFAULT_ENCODING = "iso8859"  # pydicom's codec for the default repertoire
# VRs whose decoded values are already their OtherElements text (DS and IS are made canonical).
_TEXT_AS_DECODED = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)


class _Declined(Exception):
    """The file is outside the fast path: read it with pydicom."""


class MoreBytesNeeded(Exception):
    """The header goes on past the bytes given: read the file up to :attr:`needed` and retry.

    Raised by :func:`flatten_part10` when it is given the start of a larger file.
    """

    def __init__(self, needed: int) -> None:
        super().__init__(f"the header goes on past byte {needed}")
        self.needed = needed


@functools.lru_cache(maxsize=64)
def _explicit_little_endian(transfer_syntax: str) -> bool:
    uid = UID(transfer_syntax)
    if not uid.is_transfer_syntax:
        return False
    return uid.is_little_endian and not uid.is_implicit_VR and not uid.is_deflated


@functools.lru_cache(maxsize=64)
def _encoding(raw: bytes) -> str | None:
    """The one Python codec of a Specific Character Set value, or ``None`` (declined)."""
    values = decode_raw("CS", raw, _DEFAULT_ENCODING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            codecs = convert_encodings(values or None)
        except Exception:  # an unknown or odd character set: pydicom decides how to cope
            return None
    return codecs[0] if len(codecs) == 1 else None


@functools.lru_cache(maxsize=1 << 16)
def _private_name(number: int) -> str:
    return f"Tag_{number:08X}"


class _Part10:
    """One file's bytes being walked; ``_Declined`` at the first thing off the fast path."""

    def __init__(self, data: bytes, file_size: int) -> None:
        self.data = data
        self.size = len(data)
        self.file_size = file_size
        self.walk = Walk()

    def short(self, needed: int) -> Exception:
        """What to raise when the bytes up to ``needed`` are not all there."""
        if self.size < needed <= self.file_size:
            return MoreBytesNeeded(needed)
        return _Declined()  # the file itself ends there: cut short

    def elements(self, pos: int, end: int, level: Level, *, part: str, encoding: str) -> int:
        """Read elements from ``pos`` to ``end`` into ``level``; the position after them.

        ``part`` is ``"meta"`` (group 0002), ``"top"`` (the data set, up to pixel
        data; it may set its own ``encoding``), ``"item"`` (a defined-length
        sequence item, up to ``end``) or ``"open item"`` (an undefined-length one,
        up to its delimiter).
        """
        last = -1
        while pos < end:
            if pos + 8 > self.size:
                raise self.short(pos + 8)
            group, element, vr_code, length = _ELEMENT.unpack_from(self.data, pos)
            number = group << 16 | element
            if part == "meta" and group != 2:
                return pos
            if part == "top" and number in _PIXEL_TAGS:
                return pos
            if part.endswith("item") and number == _ITEM_END:
                return pos + 8  # in a defined-length item, the caller declines
            if number <= last:
                raise _Declined  # out of order or repeated: pydicom sorts and keeps the last
            last = number
            vr = _VRS.get(vr_code)
            if vr is None:
                raise _Declined  # UN (pydicom may re-type it), or not explicit VR after all
            if vr in _LONG_VRS:
                if pos + 12 > self.size:
                    raise self.short(pos + 12)
                length = _LONG_LENGTH.unpack_from(self.data, pos + 8)[0]
                pos += 12
            else:
                pos += 8
            if vr != "SQ":
                pos, encoding = self.value(number, vr, pos, length, level, part, encoding)
                continue
            if number in LEFT_OUT or not element or (part == "top" and number < _CHARSET_TAG):
                raise _Declined
            items, pos = self.sequence(pos, length, encoding)
            add_sequence(tag_info(number).name, items, level)
        if part == "open item":
            raise self.short(pos + 8)  # an undefined-length item without its delimiter
        return pos

    def value(
        self, number: int, vr: str, pos: int, length: int, level: Level, part: str, encoding: str
    ) -> tuple[int, str]:
        """Place the value (not a sequence) starting at ``pos``; the position after it,
        and the character encoding of the elements that follow."""
        stop = pos + length
        if length == _UNDEFINED:
            raise _Declined  # undefined length outside a sequence
        if number in LEFT_OUT or not number & 0xFFFF:
            self.walk.skipped += 1
            return stop, encoding
        if vr in EXCLUDED_VRS or length > MAX_VALUE_BYTES:
            # Dropped whatever it holds: its bytes are never needed, only its length.
            if stop > self.file_size:
                raise _Declined  # cut short
            place(number, vr, [], length, level, self.walk)
            return stop, encoding
        if stop > self.size:
            raise self.short(stop)
        if number == _CHARSET_TAG:
            found = _encoding(self.data[pos:stop]) if part == "top" else None
            if found is None:
                raise _Declined  # an item with its own character set, or several sets
            encoding = found
        elif vr in _CHARSET_DEPENDENT_VRS and part == "top" and number < _CHARSET_TAG:
            raise _Declined  # text before the character set is known
        try:
            items = decode_raw(vr, self.data[pos:stop], encoding)
        except (UnicodeDecodeError, LookupError, struct.error):
            raise _Declined from None  # pydicom's conversion copes with bad bytes
        if number & 0x10000:  # private (odd group): no column, so place's rule for it, inlined
            texts = items if vr in _TEXT_AS_DECODED else other_texts(items, vr)
            level.other.append({"Tag": _private_name(number), "Data": texts})
        else:
            place(number, vr, items, length, level, self.walk)
        return stop, encoding

    def sequence(self, pos: int, length: int, encoding: str) -> tuple[list[Level], int]:
        """The flattened items of a sequence whose value starts at ``pos``."""
        data, size = self.data, self.size
        end = size if length == _UNDEFINED else pos + length
        if end > size:
            raise self.short(end)
        items: list[Level] = []
        while pos < end:
            if pos + 8 > size:
                raise self.short(pos + 8)
            group, element, item_length = _TAG_LENGTH.unpack_from(data, pos)
            number = group << 16 | element
            pos += 8
            if number == _SEQUENCE_END and length == _UNDEFINED:
                return items, pos
            if number != _ITEM:
                raise _Declined
            level = Level()
            if item_length == _UNDEFINED:
                pos = self.elements(pos, size, level, part="open item", encoding=encoding)
            else:
                stop = pos + item_length
                if stop > end:
                    raise _Declined
                reached = self.elements(pos, stop, level, part="item", encoding=encoding)
                if reached != stop:
                    raise _Declined  # an item delimiter inside a defined-length item
                pos = stop
            items.append(close_level(level))
        if length == _UNDEFINED:
            raise self.short(pos + 8)  # no sequence delimiter before the end of the bytes
        return items, pos


def flatten_part10(data: bytes, *, file_size: int | None = None) -> FlatRow | None:
    """Flatten a DICOM Part 10 file from its bytes, or ``None`` when pydicom must read it.

    The fast path of an export: files in Explicit VR Little Endian (compressed
    pixel data included) with one character set give the very row of
    ``flatten_dataset(dcmread(path, stop_before_pixels=True))``, several times
    faster. ``None`` for anything else (no ``DICM`` preamble, implicit VR, big
    endian, deflate, several character sets, ``UN`` elements, elements out of
    order, undecodable text, a file cut short, a DICOMDIR, a missing study,
    series or instance UID): read those with pydicom, which also says what is
    wrong with a bad file.

    ``data`` may be the start of a file of ``file_size`` bytes: the header is
    read up to pixel data, and values that are dropped whatever they hold
    (binary VRs, values over :data:`MAX_VALUE_BYTES`) are passed over unread,
    so a large file's pixels and bulk data are never needed. When the header
    goes on past ``data``, :class:`MoreBytesNeeded` says how far to read.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> path = get_testdata_file("CT_small.dcm")
    >>> data = open(path, "rb").read()
    >>> row = flatten_part10(data)
    >>> import pydicom
    >>> from dicomlab.rows.flatten import flatten_dataset
    >>> row.values == flatten_dataset(pydicom.dcmread(path, stop_before_pixels=True)).values
    True
    >>> flatten_part10(data[:1000], file_size=len(data))
    Traceback (most recent call last):
    ...
    dicomlab.rows.part10.MoreBytesNeeded: the header goes on past byte 1066
    >>> flatten_part10(b"not DICOM") is None
    True
    """
    size = len(data) if file_size is None else max(file_size, len(data))
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    reader = _Part10(data, size)
    level = Level()
    try:
        pos = reader.elements(132, size, level, part="meta", encoding=_DEFAULT_ENCODING)
        transfer_syntax = level.values.get("TransferSyntaxUID")
        if not isinstance(transfer_syntax, str) or not _explicit_little_endian(transfer_syntax):
            return None
        if level.values.get("MediaStorageSOPClassUID") == _DICOMDIR:
            return None
        reader.elements(pos, size, level, part="top", encoding=_DEFAULT_ENCODING)
    except _Declined:
        return None
    if any(key not in level.values for key in _REQUIRED):
        return None
    return finish_row(close_level(level), reader.walk)
