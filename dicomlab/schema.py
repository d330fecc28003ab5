"""DICOM → rows in the BigQuery schema the Healthcare API's export produces.

Pure: no I/O. One row per instance, one column per DICOM keyword, typed by the
VR table of the Healthcare API (SPEC.md §1):

======================================  ==========
VR                                      BigQuery
======================================  ==========
AE AS CS LO LT SH ST UC UI UR UT DS IS  STRING
DA                                      DATE
TM                                      TIME
DT                                      TIMESTAMP
FL FD                                   FLOAT
AT SL SS UL US SV UV                    INTEGER
PN                                      RECORD
======================================  ==========

Elements whose dictionary VM is not ``1`` are ``REPEATED``. ``PN`` is the
record ``{Alphabetic, Ideographic, Phonetic}`` × ``{FamilyName, GivenName,
MiddleName, NamePrefix, NameSuffix}``.

This first version flattens the top-level standard elements; sequences,
private elements, repeating groups and ``DroppedTags`` are skipped (counted in
:attr:`FlatRow.skipped`).

>>> from pydicom import Dataset
>>> ds = Dataset()
>>> ds.StudyDate, ds.StudyTime, ds.SliceThickness = "20010101", "103000.5", "1.25"
>>> row = flatten_dataset(ds)
>>> row.values["StudyDate"], row.values["StudyTime"], row.values["SliceThickness"]
(datetime.date(2001, 1, 1), datetime.time(10, 30, 0, 500000), '1.25')
>>> row.columns["SliceThickness"]
Column(name='SliceThickness', type='STRING', mode='NULLABLE')
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VM, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

__all__ = [
    "EXCLUDED_VRS",
    "PN_COMPONENTS",
    "PN_GROUPS",
    "VR_TYPES",
    "Column",
    "FlatRow",
    "flatten_dataset",
    "merge_columns",
    "parse_da",
    "parse_dt",
    "parse_tm",
]

VR_TYPES: Mapping[str, str] = {
    **dict.fromkeys(
        ("AE", "AS", "CS", "LO", "LT", "SH", "ST", "UC", "UI", "UR", "UT", "DS", "IS"), "STRING"
    ),
    "DA": "DATE",
    "TM": "TIME",
    "DT": "TIMESTAMP",
    "FL": "FLOAT",
    "FD": "FLOAT",
    **dict.fromkeys(("AT", "SL", "SS", "UL", "US", "SV", "UV"), "INTEGER"),
    "PN": "RECORD",
}
EXCLUDED_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
# File-meta elements the Healthcare export leaves out.
_SKIPPED_META = frozenset({0x00020000, 0x00020001})

_DA = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TM = re.compile(r"(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?")
_DT = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?")


@dataclass(frozen=True)
class Column:
    """One column of the metadata table: its name, BigQuery type and mode."""

    name: str
    type: str
    mode: str = "NULLABLE"


@dataclass
class FlatRow:
    """One instance flattened: its ``values``, their ``columns``, what was left out.

    ``skipped`` counts elements this version does not flatten (sequences,
    private elements, excluded VRs); ``unparsed`` names elements whose value did
    not parse for its VR and was stored as NULL.
    """

    values: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Column] = field(default_factory=dict)
    skipped: int = 0
    unparsed: list[str] = field(default_factory=list)


def parse_da(text: str) -> dt.date | None:
    """Parse a DICOM DA (``YYYYMMDD``; the old ``YYYY.MM.DD`` form too).

    >>> parse_da("19980924"), parse_da("1998.09.24"), parse_da("bad")
    (datetime.date(1998, 9, 24), datetime.date(1998, 9, 24), None)
    """
    match = _DA.fullmatch(text.strip().replace(".", ""))
    if match is None:
        return None
    try:
        return dt.date(*map(int, match.groups()))
    except ValueError:
        return None


def parse_tm(text: str) -> dt.time | None:
    """Parse a DICOM TM (``HH[MM[SS[.FFFFFF]]]``, colons tolerated).

    >>> parse_tm("075911"), parse_tm("0759"), parse_tm("07:59:11.5")
    (datetime.time(7, 59, 11), datetime.time(7, 59), datetime.time(7, 59, 11, 500000))
    """
    match = _TM.fullmatch(text.strip())
    if match is None:
        return None
    hh, mm, ss, frac = match.groups()
    try:
        return dt.time(
            int(hh), int(mm or 0), min(int(ss or 0), 59), int((frac or "0").ljust(6, "0"))
        )
    except ValueError:
        return None


def parse_dt(text: str) -> dt.datetime | None:
    """Parse a DICOM DT into an aware UTC datetime (no offset → taken as UTC).

    >>> parse_dt("20010101120000.5+0100")
    datetime.datetime(2001, 1, 1, 11, 0, 0, 500000, tzinfo=datetime.timezone.utc)
    """
    match = _DT.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hh, mm, ss, frac, offset = match.groups()
    try:
        value = dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hh or 0),
            int(mm or 0),
            min(int(ss or 0), 59),
            int((frac or "0").ljust(6, "0")),
        )
    except ValueError:
        return None
    tz = dt.timezone.utc
    if offset:
        sign = -1 if offset[0] == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    return value.replace(tzinfo=tz).astimezone(dt.timezone.utc)


def _person_name(value: Any) -> dict[str, dict[str, str | None] | None]:
    """A PN value as the Healthcare export's nested record."""
    text = str(value)
    groups = text.split("=")
    record: dict[str, dict[str, str | None] | None] = {}
    for position, group in enumerate(PN_GROUPS):
        part = groups[position] if position < len(groups) else ""
        if not part:
            record[group] = None
            continue
        pieces = part.split("^")
        record[group] = {
            name: (pieces[i] or None) if i < len(pieces) else None
            for i, name in enumerate(PN_COMPONENTS)
        }
    return record


def _scalar(vr: str, value: Any) -> tuple[Any, bool]:
    """Convert one value for ``vr``; the flag is False when it did not parse."""
    kind = VR_TYPES[vr]
    if kind == "STRING":
        return str(value), True
    if kind == "DATE":
        parsed: Any = parse_da(str(value))
    elif kind == "TIME":
        parsed = parse_tm(str(value))
    elif kind == "TIMESTAMP":
        parsed = parse_dt(str(value))
    elif kind == "FLOAT":
        return float(value), True
    elif kind == "INTEGER":
        return int(value), True
    else:
        return _person_name(value), True
    return parsed, parsed is not None


def _element_vr(elem: DataElement) -> str:
    vr = str(elem.VR)
    # Ambiguous dictionary VRs ("US or SS", "OB or OW"): the first choice decides the type.
    return vr.split(" or ")[0]


def _is_multi(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def _flatten_element(elem: DataElement, row: FlatRow) -> None:
    vr = _element_vr(elem)
    keyword = elem.keyword or keyword_for_tag(elem.tag)
    if elem.tag.is_private or not keyword or vr in EXCLUDED_VRS or vr not in VR_TYPES:
        row.skipped += 1
        return
    if elem.tag in _SKIPPED_META or (elem.tag.group & 0xFF00) in (0x5000, 0x6000):
        row.skipped += 1
        return
    try:
        repeated = dictionary_VM(elem.tag) != "1"
    except KeyError:
        repeated = _is_multi(elem.value)
    raw = elem.value
    items = list(raw) if _is_multi(raw) else ([] if raw in (None, "", b"") else [raw])
    converted = []
    for item in items:
        value, ok = _scalar(vr, item)
        if not ok:
            row.unparsed.append(keyword)
            continue
        converted.append(value)
    if repeated:
        row.values[keyword] = converted
    else:
        row.values[keyword] = converted[0] if converted else None
    row.columns[keyword] = Column(keyword, VR_TYPES[vr], "REPEATED" if repeated else "NULLABLE")


def flatten_dataset(ds: Dataset) -> FlatRow:
    """Flatten one instance (its file meta too, when present) into a :class:`FlatRow`.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.PatientName = "Doe^John"
    >>> ds.ImageType = ["ORIGINAL", "PRIMARY"]
    >>> row = flatten_dataset(ds)
    >>> row.values["PatientName"]["Alphabetic"]["GivenName"], row.values["ImageType"]
    ('John', ['ORIGINAL', 'PRIMARY'])
    """
    row = FlatRow()
    meta = getattr(ds, "file_meta", None)
    for source in (meta, ds):
        if source is None:
            continue
        for elem in source:
            if elem.VR == "SQ":
                row.skipped += 1
                continue
            _flatten_element(elem, row)
    return row


def merge_columns(rows: Iterable[Mapping[str, Column]]) -> dict[str, Column]:
    """The union of several rows' columns, widening NULLABLE to REPEATED, never narrowing.

    A name seen with two different types keeps the first type; the rows are
    expected to be converted with :func:`conform` before loading.

    >>> merge_columns([{"A": Column("A", "STRING")}, {"A": Column("A", "STRING", "REPEATED")}])
    {'A': Column(name='A', type='STRING', mode='REPEATED')}
    """
    merged: dict[str, Column] = {}
    for columns in rows:
        for name, column in columns.items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = column
            elif column.mode == "REPEATED" and seen.mode != "REPEATED":
                merged[name] = Column(name, seen.type, "REPEATED")
    return merged


def conform(value: Any, source: Column | None, target: Column) -> Any:
    """Convert a row's value to the merged column: wrap scalars in lists, drop type clashes.

    >>> conform("a", Column("A", "STRING"), Column("A", "STRING", "REPEATED"))
    ['a']
    """
    if source is not None and source.type != target.type:
        return [] if target.mode == "REPEATED" else None
    if target.mode == "REPEATED" and not isinstance(value, list):
        return [] if value is None else [value]
    return value
