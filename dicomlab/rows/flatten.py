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

import struct
from collections.abc import Mapping
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

from dicomlab.rows.jsonwalk import JsonDeclined, json_level
from dicomlab.rows.part10 import MoreBytesNeeded, flatten_part10
from dicomlab.rows.placement import (
    LEFT_OUT,
    MAX_VALUE_BYTES,
    Level,
    Walk,
    add_sequence,
    close_level,
    finish_row,
    place,
    tag_info,
)
from dicomlab.rows.schema import FlatRow
from dicomlab.rows.values import RAW_DECODED_VRS, decode_raw

__all__ = [
    "MAX_VALUE_BYTES",
    "MoreBytesNeeded",
    "flatten_dataset",
    "flatten_json",
    "flatten_part10",
    "has_bulk_data",
]

# VRs whose raw conversion needs the dataset's context (pydicom corrects them on access).
_SLOW_VRS = frozenset({"SQ", "US or SS", "US or OW", "US or SS or OW", "OB or OW"})


def _is_multi(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def _items(value: Any) -> list[Any]:
    if _is_multi(value):
        return [v for v in value if v is not None]
    return [] if value is None or value == "" or value == b"" else [value]


def _size(raw: Any) -> int:
    """The encoded length of a raw element (0 when unknown or undefined)."""
    length = getattr(raw, "length", None)
    if isinstance(length, int) and length != 0xFFFFFFFF:
        return length
    value = getattr(raw, "value", None)
    return len(value) if isinstance(value, (bytes, str)) else 0


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


def _flatten_level(sources: list[Dataset], walk: Walk) -> Level:
    level = Level()
    for dataset in sources:
        # The dataset's own key objects: dict look-ups then match by identity, not
        # through BaseTag.__eq__ (a Python-level call per look-up).
        charsets = _charsets(dataset)
        for tag in sorted(dataset.keys(), key=int):
            number = int(tag)
            if number in LEFT_OUT or not number & 0xFFFF:
                walk.skipped += 1
                continue
            raw = dataset.get_item(tag, keep_deferred=True)
            if _deferred_and_dropped(raw, number):
                walk.dropped.append(tag_info(number).name)
                continue
            vr, value = _element(dataset, tag, raw, charsets)
            if vr == "SQ":
                items = [_flatten_level([item], walk) for item in value or []]
                add_sequence(tag_info(number).name, items, level)
            else:
                place(number, vr, _items(value), _size(raw), level, walk)
    return close_level(level)


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
    walk = Walk()
    meta = getattr(ds, "file_meta", None)
    sources = [meta, ds] if meta is not None else [ds]
    return finish_row(_flatten_level(sources, walk), walk)


def flatten_json(obj: Mapping[str, Any]) -> FlatRow:
    """Flatten one instance given as DICOM JSON (PS3.18 F.2), e.g. WADO-RS metadata.

    Elements sent as ``BulkDataURI`` (too large to inline) are listed in
    ``DroppedTags``. File-meta (0002) elements in the object are kept like a
    file's.
    """
    walk = Walk()
    try:  # most objects: straight from the JSON (bulk data only where it is left out anyway)
        return finish_row(json_level(obj, walk), walk)
    except JsonDeclined:
        walk = Walk()
    # Bulk data elements are taken out first (pydicom would inspect a bulk data
    # handler's signature again for every element of the object), so that every
    # tag to drop is known before the walk, as it is when pydicom reads the object.
    plain = _without_bulk(obj, walk.bulk)
    try:
        return finish_row(json_level(plain, walk), walk)
    except JsonDeclined:
        walk = Walk(bulk=walk.bulk)
    return finish_row(_flatten_level([Dataset.from_json(plain)], walk), walk)


def _without_bulk(obj: Mapping[str, Any], bulk: set[int]) -> dict[str, Any]:
    """A copy of ``obj`` with its ``BulkDataURI`` elements left empty, their tags put in ``bulk``.

    Only what changes is copied: the objects and sequences on the way to a bulk data element.
    """
    out = dict(obj)
    for key, element in obj.items():
        if not isinstance(element, Mapping):
            continue
        if "BulkDataURI" in element:
            bulk.add(int(key, 16))
            out[key] = {k: v for k, v in element.items() if k != "BulkDataURI"}
        elif element.get("vr") == "SQ" and _items_have_bulk(element):
            items = [
                _without_bulk(i, bulk) if isinstance(i, Mapping) else i
                for i in element.get("Value") or []
            ]
            out[key] = {**element, "Value": items}
    return out


def has_bulk_data(obj: Mapping[str, Any]) -> bool:
    """Whether a DICOM JSON object has an element sent as ``BulkDataURI``, at any depth.

    >>> has_bulk_data({"7FE00010": {"vr": "OW", "BulkDataURI": "http://x/1"}})
    True
    >>> has_bulk_data({"00081115": {"vr": "SQ", "Value": [{"00100010": {"vr": "PN"}}]}})
    False
    """
    for element in obj.values():
        if not isinstance(element, Mapping):
            continue
        if "BulkDataURI" in element:
            return True
        if element.get("vr") == "SQ" and _items_have_bulk(element):
            return True
    return False


def _items_have_bulk(sequence: Mapping[str, Any]) -> bool:
    """Whether an item of a DICOM JSON sequence element has bulk data, at any depth."""
    items = sequence.get("Value") or []
    return any(isinstance(i, Mapping) and has_bulk_data(i) for i in items)
