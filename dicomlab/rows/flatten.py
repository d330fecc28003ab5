"""One DICOM instance → one row of the Healthcare API's BigQuery export schema.

Pure: no I/O. The same instance gives the same row whether it comes as a
pydicom ``Dataset`` (:func:`flatten_dataset`) or as DICOM JSON, the WADO-RS
metadata form (:func:`flatten_json`).

Rules (SPEC.md §1; where it is silent, the choice is named here):

- standard elements become columns named by keyword, typed by the VR table in
  :mod:`dicomlab.rows.schema`; a dictionary VM other than ``1`` makes them REPEATED;
- PN is the ``{Alphabetic, Ideographic, Phonetic}`` × name-part record;
- sequences are ``RECORD REPEATED``, recursively, at most 15 RECORD levels deep
  (deeper ones are cut and listed in ``DroppedTags``: :func:`~dicomlab.rows.schema.limit_nesting`);
  an ``OtherElements`` field exists at a level (the top one included) only where
  an item has an element for it, as in Google's exports; a sequence with no
  exportable element in any item gets no column; private sequences are named
  ``Tag_GGGGEEEE``;
- other private elements (creators included) go to
  ``OtherElements {Tag: "Tag_GGGGEEEE", Data: [STRING]}``;
- repeating groups (50xx, 60xx) become ``{Id: "6000", Value: …}`` records;
- excluded VRs (OB OD OF OL OV OW UN), elements whose dictionary VR may be OW
  (``LUTData`` "US or OW", ``OverlayData`` "OB or OW": binary, even when a file
  encodes them as US; Google's schemas have no such column) and values over ~1 MB go to
  ``DroppedTags {TagName}`` at the top level, never to a column; pixel data and
  group lengths are left out silently;
- a value that does not fit its VR (a bad date, a number that is not one), an
  element whose VR disagrees in type with the dictionary, or a single-valued
  element holding several values, goes whole to ``OtherElements`` as text and
  is named in :attr:`FlatRow.unparsed` (undocumented by Google: our choice);
- DS and IS are canonical text (``"5.000000"`` → ``"5.0"``), the only form a
  file and DICOM JSON (where they are numbers) agree on;
- file-meta elements are kept, except ``FileMetaInformationGroupLength`` and
  ``FileMetaInformationVersion``.

>>> from pydicom import Dataset
>>> ds = Dataset()
>>> ds.PatientName, ds.StudyDate, ds.SliceThickness = "Doe^John", "20010101", "1.250"
>>> row = flatten_dataset(ds)
>>> row.values["SliceThickness"], row.values["PatientName"]["Alphabetic"]["FamilyName"]
('1.25', 'Doe')
>>> flatten_json(ds.to_json_dict()).values == row.values
True
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from dicomlab.rows.schema import (
    DROPPED_TAGS,
    EXCLUDED_VRS,
    OTHER_ELEMENTS,
    PN_FIELDS,
    VR_TYPES,
    Column,
    FlatRow,
    conform,
    limit_nesting,
    merge_columns,
)
from dicomlab.rows.values import RAW_DECODED_VRS, convert, converter, decode_raw

__all__ = [
    "MAX_VALUE_BYTES",
    "MoreBytesNeeded",
    "flatten_dataset",
    "flatten_json",
    "flatten_part10",
]

MAX_VALUE_BYTES = 1_000_000  # "about 1 MB" (SPEC.md §1)
# VRs whose raw conversion needs the dataset's context (pydicom corrects them on access).
_SLOW_VRS = frozenset({"SQ", "US or SS", "US or OW", "US or SS or OW", "OB or OW"})
_LEFT_OUT = frozenset({0x00020000, 0x00020001, 0x7FE00008, 0x7FE00009, 0x7FE00010})


@dataclass
class _Walk:
    """What one instance's walk collects beside the values."""

    skipped: int = 0
    unparsed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    bulk: set[int] = field(default_factory=set)


@dataclass
class _Level:
    """One dataset level being flattened (the instance, or a sequence item)."""

    values: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Column] = field(default_factory=dict)
    other: list[dict[str, Any]] = field(default_factory=list)


def _tag_name(number: int) -> str:
    return f"Tag_{number:08X}"


def _is_multi(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def _items(value: Any) -> list[Any]:
    if _is_multi(value):
        return [v for v in value if v is not None]
    return [] if value is None or value == "" or value == b"" else [value]


def _texts(items: list[Any], vr: str) -> list[str]:
    """Values as ``OtherElements.Data`` text (DS and IS in their canonical form)."""
    if vr in ("DS", "IS"):
        return [convert(vr, v)[0] for v in items]
    return [str(v) for v in items]


def _size(raw: Any) -> int:
    """The encoded length of a raw element (0 when unknown or undefined)."""
    length = getattr(raw, "length", None)
    if isinstance(length, int) and length != 0xFFFFFFFF:
        return length
    value = getattr(raw, "value", None)
    return len(value) if isinstance(value, (bytes, str)) else 0


@dataclass(frozen=True)
class _TagInfo:
    """What the dictionary says of a tag, looked up once per tag."""

    keyword: str  # "" for private and unknown tags
    name: str  # the keyword, or Tag_GGGGEEEE
    dictionary_type: str | None
    repeated: bool
    repeating_group: bool
    binary: bool = False  # the dictionary allows OW ("US or OW"): bytes whatever the file says


@functools.lru_cache(maxsize=1 << 16)
def _tag_info(tag: int) -> _TagInfo:
    base = BaseTag(tag)
    keyword = "" if base.is_private else keyword_for_tag(base)
    try:
        vrs = dictionary_VR(base).split(" or ")
        dictionary_type = VR_TYPES.get(vrs[0])
        repeated = dictionary_VM(base) != "1"
    except KeyError:
        vrs, dictionary_type, repeated = [], None, False
    return _TagInfo(
        keyword,
        keyword or _tag_name(tag),
        dictionary_type,
        repeated,
        (base.group & 0xFF00) in (0x5000, 0x6000),
        binary=bool(keyword) and "OW" in vrs,
    )


# What an element of a given tag and VR becomes, decided once per (tag, VR).
_DROP, _OTHER, _MISMATCH, _VALUE = range(4)


@dataclass(frozen=True)
class _Plan:
    """Where the values of one (tag, VR) go: a column, ``OtherElements`` or ``DroppedTags``."""

    kind: int
    info: _TagInfo
    tag_name: str
    column: Column | None  # the column of a _VALUE element (a record for repeating groups)
    convert: Callable[[Any], tuple[Any, bool]] | None  # None: the values are text as they are
    group_id: str | None  # "6000" for an overlay or curve element, else None


@functools.lru_cache(maxsize=1 << 16)
def _plan(number: int, vr: str) -> _Plan:
    info = _tag_info(number)
    if vr in EXCLUDED_VRS or info.binary:
        kind = _DROP
    elif not info.keyword or vr not in VR_TYPES:
        kind = _OTHER
    elif info.dictionary_type is not None and info.dictionary_type != VR_TYPES[vr]:
        kind = _MISMATCH
    else:
        kind = _VALUE
    column, group_id = None, None
    if kind == _VALUE:
        column = _value_column(info.keyword, vr, info.repeated)
        if info.repeating_group:
            group_id = f"{number >> 16:04X}"
            value_field = _value_column("Value", vr, info.repeated)
            column = Column(
                info.keyword, "RECORD", "REPEATED", (Column("Id", "STRING"), value_field)
            )
    return _Plan(kind, info, _tag_name(number), column, converter(vr), group_id)


def _place(number: int, vr: str, items: list[Any], size: int, level: _Level, walk: _Walk) -> None:
    """Put one element's values (a list) where its plan says (every rule but sequences)."""
    plan = _plan(number, vr)
    kind = plan.kind
    if kind == _DROP or (walk.bulk and number in walk.bulk):
        walk.dropped.append(plan.info.name)
        return
    if size > MAX_VALUE_BYTES:  # over ~1 MB: dropped, private or not (SPEC §1)
        walk.dropped.append(plan.info.keyword or plan.info.name)
        return
    if kind == _OTHER:
        level.other.append({"Tag": plan.tag_name, "Data": _texts(items, vr)})
        return
    info = plan.info
    if kind == _VALUE and (info.repeated or len(items) < 2):
        convert_one = plan.convert
        if convert_one is None:
            values: list[Any] | None = [str(v) for v in items]
        else:
            values = []
            for item in items:
                value, ok = convert_one(item)
                if not ok:
                    values = None
                    break
                values.append(value)
        if values is not None:
            shaped = values if info.repeated else (values[0] if values else None)
            if plan.group_id is None:
                level.values[info.keyword] = shaped
            else:  # overlay and curve elements: one {Id, Value} record per group
                groups = level.values.setdefault(info.keyword, [])
                groups.append({"Id": plan.group_id, "Value": shaped})
            level.columns[info.keyword] = plan.column  # type: ignore[assignment]
            return
    walk.unparsed.append(info.keyword)
    level.other.append({"Tag": plan.tag_name, "Data": _texts(items, vr)})


def _charsets(dataset: Dataset) -> list[str]:
    """The dataset's character sets as Python codecs (what pydicom decodes with)."""
    charsets = dataset.original_character_set or dataset._character_set
    return [charsets] if isinstance(charsets, str) else list(charsets)


def _element(dataset: Dataset, tag: BaseTag, raw: Any, charsets: list[str]) -> tuple[str, Any]:
    """``(VR, value)`` of an element, converting a raw one without storing it back."""
    encoding = charsets[0] if len(charsets) == 1 else None
    vr = getattr(raw, "VR", None)
    if isinstance(raw, RawDataElement) and vr and vr not in _SLOW_VRS and raw.value is not None:
        if vr in RAW_DECODED_VRS and encoding is not None and raw.is_little_endian:
            try:
                return vr, decode_raw(vr, raw.value, encoding)
            except (UnicodeDecodeError, LookupError, struct.error):
                pass  # pydicom's conversion below copes (replacement characters, warnings)
        elem = convert_raw_data_element(raw, encoding=charsets, ds=dataset)
    else:  # implicit VR, ambiguous VR, sequences, deferred values: pydicom's full path
        elem = dataset[tag]
    return str(elem.VR).split(" or ")[0], elem.value


def _flatten_level(sources: list[Dataset], walk: _Walk) -> _Level:
    level = _Level()
    for dataset in sources:
        # The dataset's own key objects: dict look-ups then match by identity, not
        # through BaseTag.__eq__ (a Python-level call per look-up).
        charsets = _charsets(dataset)
        for tag in sorted(dataset.keys(), key=int):
            number = int(tag)
            if number in _LEFT_OUT or not number & 0xFFFF:
                walk.skipped += 1
                continue
            raw = dataset.get_item(tag, keep_deferred=True)
            if _deferred_and_dropped(raw, number):
                walk.dropped.append(_tag_info(number).name)
                continue
            vr, value = _element(dataset, tag, raw, charsets)
            if vr == "SQ":
                items = [_flatten_level([item], walk) for item in value or []]
                _add_sequence(_tag_info(number).name, items, level)
            else:
                _place(number, vr, _items(value), _size(raw), level, walk)
    return _close(level)


def _deferred_and_dropped(raw: Any, number: int) -> bool:
    """Whether ``raw`` is a value pydicom left unread (``defer_size``) that is dropped anyway.

    A value over :data:`MAX_VALUE_BYTES` goes to ``DroppedTags`` whatever it
    holds: it is never read. A deferred sequence is read (its items are flattened).
    """
    if not isinstance(raw, RawDataElement) or raw.value is not None:
        return False
    if raw.length in (None, 0xFFFFFFFF) or raw.length <= MAX_VALUE_BYTES:
        return False
    vr = raw.VR
    if vr is None:  # implicit VR: the dictionary's
        try:
            vr = dictionary_VR(number)
        except KeyError:
            vr = "UN"
    return "SQ" not in str(vr)


def _close(level: _Level) -> _Level:
    """Add the level's ``OtherElements``, when it has any (Google adds none otherwise)."""
    if level.other:
        level.values["OtherElements"] = level.other
        level.columns["OtherElements"] = OTHER_ELEMENTS
    return level


def _add_sequence(name: str, flattened: list[_Level], level: _Level) -> None:
    """A sequence whose items are flattened: a REPEATED record of their merged columns.

    No item with an exportable element: no column (BigQuery has no empty RECORD).
    """
    fields = merge_columns([f.columns for f in flattened])
    if not fields:
        return
    column = Column(name, "RECORD", "REPEATED", tuple(fields.values()))
    record = Column(name, "RECORD", "NULLABLE", column.fields)
    level.values[name] = [
        conform(f.values, Column(name, "RECORD", "NULLABLE", tuple(f.columns.values())), record)
        for f in flattened
    ]
    level.columns[name] = column


def _value_column(name: str, vr: str, repeated: bool) -> Column:
    """The column holding an element's values (PN with its name-part record)."""
    mode = "REPEATED" if repeated else "NULLABLE"
    return Column(name, VR_TYPES[vr], mode, PN_FIELDS if vr == "PN" else ())


def _finish(level: _Level, walk: _Walk) -> FlatRow:
    columns, cut = limit_nesting(level.values, level.columns)
    walk.dropped.extend(cut)
    row = FlatRow(level.values, columns, walk.skipped, walk.unparsed, walk.dropped)
    if walk.dropped:
        row.values["DroppedTags"] = [{"TagName": name} for name in walk.dropped]
        row.columns["DroppedTags"] = DROPPED_TAGS
    return row


def flatten_dataset(ds: Dataset) -> FlatRow:
    """Flatten one instance, and its file meta when present, into a :class:`FlatRow`.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.ImageType = ["ORIGINAL", "PRIMARY"]
    >>> ds.add_new(0x00091001, "LO", "vendor")
    >>> row = flatten_dataset(ds)
    >>> row.values["ImageType"], row.values["OtherElements"]
    (['ORIGINAL', 'PRIMARY'], [{'Tag': 'Tag_00091001', 'Data': ['vendor']}])
    """
    walk = _Walk()
    meta = getattr(ds, "file_meta", None)
    sources = [meta, ds] if meta is not None else [ds]
    return _finish(_flatten_level(sources, walk), walk)


def flatten_json(obj: Mapping[str, Any]) -> FlatRow:
    """Flatten one instance given as DICOM JSON (PS3.18 F.2), e.g. WADO-RS metadata.

    Elements sent as ``BulkDataURI`` (too large to inline) are listed in
    ``DroppedTags``. File-meta (0002) elements in the object are kept like a
    file's.
    """
    walk = _Walk()

    def bulk(tag: str, vr: str, uri: str) -> None:
        walk.bulk.add(int(tag, 16))

    ds = Dataset.from_json(dict(obj), bulk_data_uri_handler=bulk)
    return _finish(_flatten_level([ds], walk), walk)


# -- the fast path: Part 10 bytes in Explicit VR Little Endian, without a Dataset ------------
# A bare ``dcmread`` builds a raw element per tag and a Dataset around them; flattening
# then converts each one. For the common file (explicit VR, little endian, one character
# set) the same row comes straight from the bytes. Anything else is declined, and the
# caller reads the file with pydicom: the fast path never guesses.

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
    from pydicom.uid import UID

    uid = UID(transfer_syntax)
    if not uid.is_transfer_syntax:
        return False
    return uid.is_little_endian and not uid.is_implicit_VR and not uid.is_deflated


@functools.lru_cache(maxsize=64)
def _encoding(raw: bytes) -> str | None:
    """The one Python codec of a Specific Character Set value, or ``None`` (declined)."""
    import warnings

    from pydicom.charset import convert_encodings

    values = decode_raw("CS", raw, _DEFAULT_ENCODING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            codecs = convert_encodings(values or None)
        except Exception:  # an unknown or odd character set: pydicom decides how to cope
            return None
    return codecs[0] if len(codecs) == 1 else None


class _Part10:
    """One file's bytes being walked; ``_Declined`` at the first thing off the fast path."""

    def __init__(self, data: bytes, file_size: int) -> None:
        self.data = data
        self.size = len(data)
        self.file_size = file_size
        self.walk = _Walk()

    def short(self, needed: int) -> Exception:
        """What to raise when the bytes up to ``needed`` are not all there."""
        if self.size < needed <= self.file_size:
            return MoreBytesNeeded(needed)
        return _Declined()  # the file itself ends there: cut short

    def elements(self, pos: int, end: int, level: _Level, *, part: str, encoding: str) -> int:
        """Read elements from ``pos`` to ``end`` into ``level``; the position after them.

        ``part`` is ``"meta"`` (group 0002), ``"top"`` (the data set, up to pixel
        data; it may set its own ``encoding``), ``"item"`` (a defined-length
        sequence item, up to ``end``) or ``"open item"`` (an undefined-length one,
        up to its delimiter).
        """
        data, size, walk = self.data, self.size, self.walk
        last = -1
        while pos < end:
            if pos + 8 > size:
                raise self.short(pos + 8)
            group, element, vr_code, length = _ELEMENT.unpack_from(data, pos)
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
                if pos + 12 > size:
                    raise self.short(pos + 12)
                length = _LONG_LENGTH.unpack_from(data, pos + 8)[0]
                pos += 12
            else:
                pos += 8
            if vr == "SQ":
                if number in _LEFT_OUT or not element or (part == "top" and number < _CHARSET_TAG):
                    raise _Declined
                items, pos = self.sequence(pos, length, encoding)
                _add_sequence(_tag_info(number).name, items, level)
                continue
            stop = pos + length
            if length == _UNDEFINED:
                raise _Declined  # undefined length outside a sequence
            if number in _LEFT_OUT or not element:
                walk.skipped += 1
                pos = stop
                continue
            if vr in EXCLUDED_VRS or length > MAX_VALUE_BYTES:
                # Dropped whatever it holds: its bytes are never needed, only its length.
                if stop > self.file_size:
                    raise _Declined  # cut short
                _place(number, vr, [], length, level, walk)
                pos = stop
                continue
            if stop > size:
                raise self.short(stop)
            if number == _CHARSET_TAG:
                if part != "top":
                    raise _Declined  # an item with its own character set
                found = _encoding(data[pos:stop])
                if found is None:
                    raise _Declined
                encoding = found
            elif vr in _CHARSET_DEPENDENT_VRS and part == "top" and number < _CHARSET_TAG:
                raise _Declined  # text before the character set is known
            try:
                items = decode_raw(vr, data[pos:stop], encoding)
            except (UnicodeDecodeError, LookupError, struct.error):
                raise _Declined from None  # pydicom's conversion copes with bad bytes
            _place(number, vr, items, length, level, walk)
            pos = stop
        if part == "open item":
            raise self.short(pos + 8)  # an undefined-length item without its delimiter
        return pos

    def sequence(self, pos: int, length: int, encoding: str) -> tuple[list[_Level], int]:
        """The flattened items of a sequence whose value starts at ``pos``."""
        data, size = self.data, self.size
        end = size if length == _UNDEFINED else pos + length
        if end > size:
            raise self.short(end)
        items: list[_Level] = []
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
            level = _Level()
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
            items.append(_close(level))
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
    >>> row.values == flatten_dataset(pydicom.dcmread(path, stop_before_pixels=True)).values
    True
    >>> flatten_part10(data[:1000], file_size=len(data))
    Traceback (most recent call last):
    ...
    dicomlab.rows.flatten.MoreBytesNeeded: the header goes on past byte 1066
    >>> flatten_part10(b"not DICOM") is None
    True
    """
    size = len(data) if file_size is None else max(file_size, len(data))
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    reader = _Part10(data, size)
    level = _Level()
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
    return _finish(_close(level), reader.walk)
