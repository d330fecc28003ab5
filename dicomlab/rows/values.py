"""DICOM values → the Python values of the BigQuery metadata schema, without I/O.

One converter per BigQuery type; each returns ``(value, ok)`` where ``ok`` is
false when the text does not parse for its VR. DS and IS are kept as STRING
(as the Healthcare export does) in a canonical form, so that a value read from
a file (``"5.000000"``) and the same value from DICOM JSON (``5.0``) give the
same text (``"5.0"``).

>>> convert("DA", "19980924"), convert("TM", "0759"), convert("DS", "5.000000")
((datetime.date(1998, 9, 24), True), (datetime.time(7, 59), True), ('5.0', True))
>>> convert("DA", "2001-13-45")
(None, False)
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "PN_COMPONENTS",
    "PN_GROUPS",
    "RAW_DECODED_VRS",
    "canonical_ds",
    "canonical_is",
    "convert",
    "converter",
    "decode_raw",
    "parse_da",
    "parse_dt",
    "parse_tm",
    "person_name",
]

PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")

# re.ASCII: DICOM digits are 0-9 only (``\d`` would take any script's digits, and int() too).
_DA = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
_TM = re.compile(r"(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?", re.ASCII)
_DT = re.compile(
    r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?", re.ASCII
)


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
    """Parse a DICOM TM (``HH[MM[SS[.FFFFFF]]]``, colons tolerated; second 60 clamps to 59).

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


def person_name(value: Any) -> dict[str, dict[str, str | None] | None]:
    """A PN value as the Healthcare export's record (absent groups are NULL).

    >>> person_name("Doe^John")["Alphabetic"]["GivenName"]
    'John'
    """
    groups = str(value).split("=")
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


def canonical_ds(value: Any) -> str:
    """A DS as canonical text: the shortest repr of its float; unparseable text kept as is.

    >>> canonical_ds("5.000000"), canonical_ds(5.0), canonical_ds(" 1e3"), canonical_ds("abc")
    ('5.0', '5.0', '1000.0', 'abc')
    """
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value).strip()


def canonical_is(value: Any) -> str:
    """An IS as canonical integer text; unparseable text kept as is.

    >>> canonical_is("+0011"), canonical_is(11), canonical_is("1x")
    ('11', '11', '1x')
    """
    try:
        return str(int(str(value).strip()))
    except ValueError:
        return str(value).strip()


def _temporal(parse: Callable[[str], Any], kind: type) -> Callable[[Any], tuple[Any, bool]]:
    def convert_one(value: Any) -> tuple[Any, bool]:
        if isinstance(value, kind) and not (kind is dt.date and isinstance(value, dt.datetime)):
            return value, True  # pydicom's datetime conversion already done
        parsed = parse(str(value))
        return parsed, parsed is not None

    return convert_one


def _number(cast: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, bool]]:
    def convert_one(value: Any) -> tuple[Any, bool]:
        try:
            return cast(value), True
        except (TypeError, ValueError, OverflowError):
            return None, False

    return convert_one


def _checked_ds(value: Any) -> tuple[str, bool]:
    """A DS in canonical text, and whether it is a number at all (else it breaks its VR).

    >>> _checked_ds("5.000"), _checked_ds("x.yz")
    (('5.0', True), ('x.yz', False))
    """
    try:
        return repr(float(value)), True
    except (TypeError, ValueError):
        return str(value).strip(), False


def _checked_is(value: Any) -> tuple[str, bool]:
    """An IS in canonical text, and whether it is a whole number at all.

    >>> _checked_is("+0011"), _checked_is("1.5")
    (('11', True), ('1.5', False))
    """
    try:
        return str(int(str(value).strip())), True
    except ValueError:
        return str(value).strip(), False


_CONVERTERS: Mapping[str, Callable[[Any], tuple[Any, bool]]] = {
    "DS": _checked_ds,
    "IS": _checked_is,
    "DA": _temporal(parse_da, dt.date),
    "TM": _temporal(parse_tm, dt.time),
    "DT": _temporal(parse_dt, dt.datetime),
    "FL": _number(float),
    "FD": _number(float),
    "PN": lambda v: (person_name(v), True),
    **dict.fromkeys(("AT", "SL", "SS", "UL", "US", "SV", "UV"), _number(int)),
}


def converter(vr: str) -> Callable[[Any], tuple[Any, bool]] | None:
    """The converter of one value of ``vr``, or ``None`` where the value is kept as text.

    >>> converter("DS")("2.50"), converter("LO") is None
    (('2.5', True), True)
    """
    return _CONVERTERS.get(vr)


def convert(vr: str, value: Any) -> tuple[Any, bool]:
    """Convert one value of an element with ``vr``; ``ok`` is false when it does not parse."""
    converter = _CONVERTERS.get(vr)
    if converter is None:
        return str(value), True
    return converter(value)


# -- decoding raw element bytes -------------------------------------------------------------
# The same results as pydicom's value conversion for these VRs (tested against it on every
# file pydicom ships), without building a DataElement per value: the export's hot path.

_BINARY_FORMATS = {
    "US": "H",
    "SS": "h",
    "UL": "L",
    "SL": "l",
    "FL": "f",
    "FD": "d",
    "SV": "q",
    "UV": "Q",
}
_CHARSET_VRS = frozenset({"LO", "SH", "UC"})
_SINGLE_VRS = frozenset({"LT", "ST", "UT"})
_PLAIN_VRS = frozenset({"AS", "CS", "DA", "DT", "TM", "DS", "IS"})
RAW_DECODED_VRS = frozenset(
    {*_BINARY_FORMATS, "AT", "AE", "UI", "UR", "PN", *_CHARSET_VRS, *_SINGLE_VRS, *_PLAIN_VRS}
)


_BINARY_SIZES = {vr: struct.calcsize(f"<{code}") for vr, code in _BINARY_FORMATS.items()}


def _binary(vr: str, data: bytes) -> list[Any]:
    # The whole values only (a trailing odd byte is ignored, as pydicom does), without a copy.
    return list(struct.unpack_from(f"<{len(data) // _BINARY_SIZES[vr]}{_BINARY_FORMATS[vr]}", data))


def _text(vr: str, data: bytes, encoding: str) -> list[Any]:
    if vr in _PLAIN_VRS:
        return data.decode("latin-1").rstrip(" \x00").split("\\")
    if vr == "UI":
        return data.decode("latin-1").rstrip("\x00 ").split("\\")
    if vr == "AE":
        return [s.strip() for s in data.decode("latin-1").split("\\")]
    if vr == "UR":
        return [data.decode("latin-1").rstrip()]
    if vr in _SINGLE_VRS:
        return [data.decode(encoding).rstrip("\x00 ")]
    if vr == "PN":
        return data.rstrip(b"\x00 ").decode(encoding).split("\\")
    return [v.rstrip("\x00 ") for v in data.decode(encoding).split("\\")]


def decode_raw(vr: str, data: bytes, encoding: str) -> list[Any]:
    """The values of a little-endian element of ``vr`` from its bytes, as pydicom reads them.

    ``encoding`` is the Python codec of the dataset's (single) character set.

    >>> decode_raw("US", b"\\x10\\x00\\x20\\x00", "latin-1")
    [16, 32]
    >>> decode_raw("CS", b"A\\\\B ", "latin-1")
    ['A', 'B']
    """
    if not data:
        return []
    if vr in _BINARY_FORMATS:
        return _binary(vr, data)
    if vr == "AT":
        pairs = _binary("US", data)
        return [(pairs[i] << 16) | pairs[i + 1] for i in range(0, len(pairs) - 1, 2)]
    values = _text(vr, data, encoding)
    return [] if values == [""] else values  # pydicom: one empty value is no value
