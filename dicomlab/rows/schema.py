"""The shape of the metadata table: columns, their BigQuery types and modes.

Pure: no I/O. The table the Healthcare API's ``dicomStores.export`` writes to
BigQuery has one row per instance and one column per DICOM keyword, typed by
the VR (SPEC.md §1):

======================================  ==========
VR                                      BigQuery
======================================  ==========
AE AS CS LO LT SH ST UC UI UR UT DS IS  STRING
DA                                      DATE
TM                                      TIME
DT                                      TIMESTAMP
FL FD                                   FLOAT
AT SL SS UL US SV UV                    INTEGER
PN SQ                                   RECORD
======================================  ==========

A dictionary VM other than ``1`` makes a column ``REPEATED``; sequences are
``RECORD REPEATED``, with an ``OtherElements`` field only where an item has
something for it (a private element, or a value that does not fit its VR), as
in Google's exports (IDC's ``dicom_all`` schema has none in sequences whose
items hold none), nested at most :data:`MAX_NESTING` RECORD levels deep
(:func:`limit_nesting`). :func:`merge_columns`
unions the columns of many rows (never narrowing) and :func:`conform` fits a
row's values to the merged shape. Rows come from :mod:`dicomlab.rows.flatten`.

>>> merge_columns([{"A": Column("A", "STRING")}, {"A": Column("A", "STRING", "REPEATED")}])
{'A': Column(name='A', type='STRING', mode='REPEATED', fields=())}
>>> duckdb_type(Column("PixelSpacing", "STRING", "REPEATED"))
'VARCHAR[]'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dicomlab.rows.values import PN_COMPONENTS, PN_GROUPS

__all__ = [
    "DROPPED_TAGS",
    "EXCLUDED_VRS",
    "MAX_NESTING",
    "OTHER_ELEMENTS",
    "PN_FIELDS",
    "STREAMING_COLUMNS",
    "VR_TYPES",
    "Column",
    "FlatRow",
    "conform",
    "duckdb_type",
    "limit_nesting",
    "merge_columns",
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
    "SQ": "RECORD",
}
EXCLUDED_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP WITH TIME ZONE",
    "FLOAT": "DOUBLE",
    "INTEGER": "BIGINT",
}


@dataclass(frozen=True)
class Column:
    """One column (or record field): name, BigQuery type, mode and, for RECORDs, fields."""

    name: str
    type: str
    mode: str = "NULLABLE"
    fields: tuple[Column, ...] = ()

    @property
    def repeated(self) -> bool:
        """Whether the column holds a list."""
        return self.mode == "REPEATED"


PN_FIELDS = tuple(
    Column(group, "RECORD", "NULLABLE", tuple(Column(c, "STRING") for c in PN_COMPONENTS))
    for group in PN_GROUPS
)
OTHER_ELEMENTS = Column(
    "OtherElements",
    "RECORD",
    "REPEATED",
    (Column("Tag", "STRING"), Column("Data", "STRING", "REPEATED")),
)
DROPPED_TAGS = Column("DroppedTags", "RECORD", "REPEATED", (Column("TagName", "STRING"),))
# Columns of tables the Healthcare API streams into (SPEC.md §1): optional on export.
STREAMING_COLUMNS = (Column("Type", "STRING"), Column("LastUpdated", "TIMESTAMP"))


@dataclass
class FlatRow:
    """One instance flattened: its ``values``, their ``columns``, and what was set aside.

    ``dropped`` names elements listed in ``DroppedTags`` (excluded VRs, values
    over ~1 MB); ``unparsed`` names elements whose values did not fit their VR
    (routed to ``OtherElements``); ``skipped`` counts elements that are not
    exported at all (pixel data, group lengths).
    """

    values: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Column] = field(default_factory=dict)
    skipped: int = 0
    unparsed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        """How often each element was routed to ``OtherElements`` for a bad value."""
        return Counter(self.unparsed)


def _merge_pair(seen: Column, new: Column) -> Column:
    mode = "REPEATED" if new.repeated or seen.repeated else seen.mode
    if seen.type != "RECORD" or new.type != "RECORD" or seen.fields == new.fields:
        return seen if mode == seen.mode else Column(seen.name, seen.type, mode, seen.fields)
    fields = merge_columns([{f.name: f for f in seen.fields}, {f.name: f for f in new.fields}])
    return Column(seen.name, seen.type, mode, tuple(fields.values()))


def merge_columns(rows: Iterable[Mapping[str, Column]]) -> dict[str, Column]:
    """The union of several rows' columns: records merge their fields, modes widen.

    A name seen with two different types keeps the first; :func:`conform` then
    nulls the values of the other type (the flattener routes dictionary
    mismatches to ``OtherElements`` first, so standard columns never clash).
    """
    merged: dict[str, Column] = {}
    for columns in rows:
        for name, column in columns.items():
            seen = merged.get(name)
            merged[name] = column if seen is None else _merge_pair(seen, column)
    return merged


def conform(value: Any, source: Column | None, target: Column) -> Any:
    """Fit ``value`` (shaped like ``source``) to the merged column ``target``.

    >>> conform("a", Column("A", "STRING"), Column("A", "STRING", "REPEATED"))
    ['a']
    >>> rec = Column("S", "RECORD", "REPEATED", (Column("X", "STRING"), Column("Y", "INTEGER")))
    >>> conform([{"X": "1"}], Column("S", "RECORD", "REPEATED", (Column("X", "STRING"),)), rec)
    [{'X': '1', 'Y': None}]
    """
    if source is not None and source.type != target.type:
        value = None
    if target.repeated:
        items = value if isinstance(value, list) else ([] if value is None else [value])
        return [_conform_item(item, source, target) for item in items]
    return _conform_item(value, source, target)


def _conform_item(item: Any, source: Column | None, target: Column) -> Any:
    if target.type != "RECORD" or item is None or target.fields == PN_FIELDS:
        return item
    known = {f.name: f for f in source.fields} if source is not None else {}
    return {f.name: conform(item.get(f.name), known.get(f.name), f) for f in target.fields}


def duckdb_type(column: Column) -> str:
    """The DuckDB type holding ``column`` (STRUCT for records, ``[]`` for REPEATED)."""
    if column.type == "RECORD":
        inner = ", ".join(f'"{f.name}" {duckdb_type(f)}' for f in column.fields)
        kind = f"STRUCT({inner})"
    else:
        kind = _DUCKDB_TYPES[column.type]
    return f"{kind}[]" if column.repeated else kind


# BigQuery: "A schema cannot contain more than 15 levels of nested RECORD types ... independent
# of whether the RECORDs are scalar or array-based (repeated)"
# (https://cloud.google.com/bigquery/docs/nested-repeated#limitations); a load of a deeper
# schema is refused. What Google's DICOM export does past it is not documented in the
# material found (SPEC.md §1 lists no such rule), so dicomlab keeps the first 15 levels and
# lists each RECORD it cuts (a deeper sequence, or a person name that would reach level 16)
# in DroppedTags, as it does for other elements it cannot export.
MAX_NESTING = 15


def limit_nesting(
    values: dict[str, Any], columns: Mapping[str, Column], limit: int = MAX_NESTING
) -> tuple[dict[str, Column], list[str]]:
    """``columns`` without RECORDs nested deeper than ``limit``; the names cut, once each.

    ``values`` (a row shaped like ``columns``) loses the same fields, in place. A
    top-level RECORD is level 1; a RECORD left with no field is cut whole.

    >>> inner = Column("S", "RECORD", "REPEATED", (Column("B", "STRING"),))
    >>> deep = Column("S", "RECORD", "REPEATED", (Column("A", "STRING"), inner))
    >>> row = {"S": [{"A": "x", "S": [{"B": "y"}]}]}
    >>> kept, cut = limit_nesting(row, {"S": deep}, limit=1)
    >>> row, cut, kept["S"].fields
    ({'S': [{'A': 'x'}]}, ['S'], (Column(name='A', type='STRING', mode='NULLABLE', fields=()),))
    """
    cut: list[str] = []
    root = Column("", "RECORD", "NULLABLE", tuple(columns.values()))
    if _height(root) - 1 <= limit:
        return dict(columns), cut
    pruned = _within(root, [values], 0, limit, cut)
    names = list(dict.fromkeys(cut))
    return {f.name: f for f in pruned.fields}, names


def _height(column: Column) -> int:
    """RECORD levels in ``column`` (0 for a scalar)."""
    if column.type != "RECORD":
        return 0
    if column.fields is PN_FIELDS:  # every person name of every row: known once
        return _PN_HEIGHT
    return 1 + max((_height(f) for f in column.fields), default=0)


_PN_HEIGHT = 1 + max(_height(f) for f in PN_FIELDS)


def _within(
    column: Column, items: list[dict[str, Any]], depth: int, limit: int, cut: list[str]
) -> Column:
    """``column`` (a RECORD at ``depth``) with its RECORD fields cut below ``limit``."""
    kept: list[Column] = []
    for field_ in column.fields:
        if field_.type != "RECORD":
            kept.append(field_)
            continue
        below: list[str] = []  # cut inside field_: named only if field_ itself stays
        inner = None
        if depth + 1 <= limit:
            inner = _within(field_, _children(items, field_), depth + 1, limit, below)
        if inner is None or not inner.fields:
            cut.append(field_.name)
            for item in items:
                item.pop(field_.name, None)
            continue
        cut.extend(below)
        kept.append(inner)
    return Column(column.name, column.type, column.mode, tuple(kept))


def _children(items: list[dict[str, Any]], column: Column) -> list[dict[str, Any]]:
    """The values of RECORD field ``column`` in every item, as a list of dicts."""
    found: list[dict[str, Any]] = []
    for item in items:
        value = item.get(column.name)
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, dict):
                found.append(child)
    return found
