"""One DICOM instance → one row of the Healthcare API's BigQuery export schema.

Pure: no I/O. The same instance gives the same row whether it comes as a
pydicom ``Dataset`` (:func:`flatten_dataset`) or as DICOM JSON, the WADO-RS
metadata form (:func:`flatten_json`).

Rules (SPEC.md §1; where it is silent, the choice is named here):

- standard elements become columns named by keyword, typed by the VR table in
  :mod:`dicomlab.schema`; a dictionary VM other than ``1`` makes them REPEATED;
- PN is the ``{Alphabetic, Ideographic, Phonetic}`` × name-part record;
- sequences are ``RECORD REPEATED``, recursively, each level with its own
  ``OtherElements``; private sequences are named ``Tag_GGGGEEEE``;
- other private elements (creators included) go to
  ``OtherElements {Tag: "Tag_GGGGEEEE", Data: [STRING]}``;
- repeating groups (50xx, 60xx) become ``{Id: "6000", Value: …}`` records;
- excluded VRs (OB OD OF OL OV OW UN) and values over ~1 MB go to
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from dicomlab.dicomvalues import RAW_DECODED_VRS, convert, decode_raw
from dicomlab.schema import (
    DROPPED_TAGS,
    EXCLUDED_VRS,
    OTHER_ELEMENTS,
    PN_FIELDS,
    VR_TYPES,
    Column,
    FlatRow,
    conform,
    merge_columns,
)

__all__ = ["MAX_VALUE_BYTES", "flatten_dataset", "flatten_json"]

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


def _tag_name(tag: BaseTag) -> str:
    return f"Tag_{int(tag):08X}"


def _is_multi(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def _items(value: Any) -> list[Any]:
    if _is_multi(value):
        return [v for v in value if v is not None]
    return [] if value is None or value == "" or value == b"" else [value]


def _texts(value: Any, vr: str) -> list[str]:
    """Values as ``OtherElements.Data`` text (DS and IS in their canonical form)."""
    if vr in ("DS", "IS"):
        return [convert(vr, v)[0] for v in _items(value)]
    return [str(v) for v in _items(value)]


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


@functools.lru_cache(maxsize=1 << 16)
def _tag_info(tag: int) -> _TagInfo:
    base = BaseTag(tag)
    keyword = "" if base.is_private else keyword_for_tag(base)
    try:
        dictionary_type = VR_TYPES.get(dictionary_VR(base).split(" or ")[0])
        repeated = dictionary_VM(base) != "1"
    except KeyError:
        dictionary_type, repeated = None, False
    return _TagInfo(
        keyword,
        keyword or _tag_name(base),
        dictionary_type,
        repeated,
        (base.group & 0xFF00) in (0x5000, 0x6000),
    )


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
            _flatten_element(dataset, tag, charsets, level, walk)
    level.values["OtherElements"] = level.other
    level.columns["OtherElements"] = OTHER_ELEMENTS
    return level


def _flatten_element(
    dataset: Dataset, tag: BaseTag, charsets: list[str], level: _Level, walk: _Walk
) -> None:
    raw = dataset.get_item(tag)
    vr, value = _element(dataset, tag, raw, charsets)
    number = int(tag)
    info = _tag_info(number)
    if vr == "SQ":
        _flatten_sequence(info.name, value, level, walk)
    elif vr in EXCLUDED_VRS or number in walk.bulk:
        walk.dropped.append(info.name)
    elif _size(raw) > MAX_VALUE_BYTES:  # over ~1 MB: dropped, private or not (SPEC §1)
        walk.dropped.append(info.keyword or info.name)
    elif not info.keyword or vr not in VR_TYPES:
        level.other.append({"Tag": _tag_name(tag), "Data": _texts(value, vr)})
    else:
        _flatten_standard(tag, info, vr, value, level, walk)


def _flatten_sequence(name: str, items: Any, level: _Level, walk: _Walk) -> None:
    flattened = [_flatten_level([item], walk) for item in items or []]
    fields = merge_columns([{"OtherElements": OTHER_ELEMENTS}] + [f.columns for f in flattened])
    column = Column(name, "RECORD", "REPEATED", tuple(fields.values()))
    record = Column(name, "RECORD", "NULLABLE", column.fields)
    level.values[name] = [
        conform(f.values, Column(name, "RECORD", "NULLABLE", tuple(f.columns.values())), record)
        for f in flattened
    ]
    level.columns[name] = column


def _flatten_standard(
    tag: BaseTag, info: _TagInfo, vr: str, value: Any, level: _Level, walk: _Walk
) -> None:
    keyword, repeated, expected = info.keyword, info.repeated, info.dictionary_type
    items = _items(value)
    converted = [convert(vr, item) for item in items]
    if (
        not all(ok for _, ok in converted)
        or (expected is not None and expected != VR_TYPES[vr])
        or (not repeated and len(items) > 1)
    ):
        walk.unparsed.append(keyword)
        level.other.append({"Tag": _tag_name(tag), "Data": _texts(value, vr)})
        return
    values = [v for v, _ in converted]
    if info.repeating_group:
        _add_repeating_group(tag, keyword, vr, values, repeated, level)
        return
    level.values[keyword] = _shaped(values, repeated)
    level.columns[keyword] = _value_column(keyword, vr, repeated)


def _value_column(name: str, vr: str, repeated: bool) -> Column:
    """The column holding an element's values (PN with its name-part record)."""
    mode = "REPEATED" if repeated else "NULLABLE"
    return Column(name, VR_TYPES[vr], mode, PN_FIELDS if vr == "PN" else ())


def _shaped(values: list[Any], repeated: bool) -> Any:
    """The list for a REPEATED column, else the single value (or NULL)."""
    return values if repeated else (values[0] if values else None)


def _add_repeating_group(
    tag: BaseTag, keyword: str, vr: str, values: list[Any], repeated: bool, level: _Level
) -> None:
    """Overlay and curve elements: one ``{Id, Value}`` record per group (6000, 6002, …)."""
    value_field = _value_column("Value", vr, repeated)
    level.columns[keyword] = Column(
        keyword, "RECORD", "REPEATED", (Column("Id", "STRING"), value_field)
    )
    level.values.setdefault(keyword, []).append(
        {"Id": f"{tag.group:04X}", "Value": _shaped(values, repeated)}
    )


def _finish(level: _Level, walk: _Walk) -> FlatRow:
    row = FlatRow(level.values, level.columns, walk.skipped, walk.unparsed, walk.dropped)
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
