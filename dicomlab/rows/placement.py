"""Where one DICOM element's values go in a row: a column, ``OtherElements`` or ``DroppedTags``.

Pure: no I/O. The rules of :mod:`dicomlab.rows.flatten`, shared by its two
readers: the walk over a pydicom ``Dataset`` there and the walk over Part 10
bytes in :mod:`dicomlab.rows.part10`. Each reader hands :func:`place` one
element's values at a time, gathers a sequence's items with :func:`add_sequence`
and ends a row with :func:`finish_row`. What a (tag, VR) becomes is decided once
and cached.

>>> level, walk = Level(), Walk()
>>> place(0x00100020, "LO", ["p1"], 2, level, walk)
>>> place(0x00091001, "LO", ["vendor"], 6, level, walk)
>>> finish_row(close_level(level), walk).values
{'PatientID': 'p1', 'OtherElements': [{'Tag': 'Tag_00091001', 'Data': ['vendor']}]}
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.tag import BaseTag

from dicomlab.rows.schema import (
    DROPPED_TAGS,
    EXCLUDED_VRS,
    MAX_NESTING,
    OTHER_ELEMENTS,
    PN_FIELDS,
    VR_TYPES,
    Column,
    FlatRow,
    conform,
    limit_nesting,
    merge_columns,
)
from dicomlab.rows.values import convert, converter

__all__ = [
    "LEFT_OUT",
    "MAX_VALUE_BYTES",
    "OTHER_TEXT",
    "SET_VALUE",
    "Effect",
    "Level",
    "TagInfo",
    "Walk",
    "add_sequence",
    "close_level",
    "combined",
    "finish_row",
    "other_texts",
    "place",
    "placement",
    "replay",
    "tag_info",
]

MAX_VALUE_BYTES = 1_000_000  # "about 1 MB" (SPEC.md §1)
# File-meta group length and version, and pixel data: left out of every row, silently.
LEFT_OUT = frozenset({0x00020000, 0x00020001, 0x7FE00008, 0x7FE00009, 0x7FE00010})


@dataclass
class Walk:
    """What one instance's walk collects beside the values."""

    skipped: int = 0
    unparsed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    bulk: set[int] = field(default_factory=set)


@dataclass
class Level:
    """One dataset level being flattened (the instance, or a sequence item)."""

    values: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Column] = field(default_factory=dict)
    other: list[dict[str, Any]] = field(default_factory=list)
    # At least the RECORD levels of the deepest column (a person name has 2): known as
    # sequences are added, so that most rows need no walk of their columns for it.
    nesting: int = 2


def _tag_name(number: int) -> str:
    return f"Tag_{number:08X}"


def other_texts(items: list[Any], vr: str) -> list[str]:
    """Values as ``OtherElements.Data`` text (DS and IS in their canonical form)."""
    if vr in ("DS", "IS"):
        return [convert(vr, v)[0] for v in items]
    return list(map(str, items))


@dataclass(frozen=True)
class TagInfo:
    """What the dictionary says of a tag, looked up once per tag."""

    keyword: str  # "" for private and unknown tags
    name: str  # the keyword, or Tag_GGGGEEEE
    dictionary_type: str | None
    repeated: bool
    repeating_group: bool
    binary: bool = False  # the dictionary allows OW ("US or OW"): bytes whatever the file says


@functools.lru_cache(maxsize=1 << 16)
def tag_info(tag: int) -> TagInfo:
    """What the dictionary says of ``tag`` (cached: a file holds the same tags as the next)."""
    base = BaseTag(tag)
    keyword = "" if base.is_private else keyword_for_tag(base)
    try:
        vrs = dictionary_VR(base).split(" or ")
        dictionary_type = VR_TYPES.get(vrs[0])
        repeated = dictionary_VM(base) != "1"
    except KeyError:
        vrs, dictionary_type, repeated = [], None, False
    return TagInfo(
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
    info: TagInfo
    tag_name: str
    column: Column | None  # the column of a _VALUE element (a record for repeating groups)
    convert: Callable[[Any], tuple[Any, bool]] | None  # None: the values are text as they are
    group_id: str | None  # "6000" for an overlay or curve element, else None


@functools.lru_cache(maxsize=1 << 16)
def _plan(number: int, vr: str) -> _Plan:
    info = tag_info(number)
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


# What placing one element does to its level, as a tuple: (SET_VALUE, keyword, value,
# column) for a value that cannot change (text, a number, a date), (_SET_COPY, keyword,
# value, column) for a list or a record, copied each time, (_GROUP, keyword, group id,
# value, column), (OTHER_TEXT, tag name, texts), (_UNPARSED,
# keyword, tag name, texts) or (_DROPPED, name); :func:`combined` makes one (_RUN, ...)
# of several. An effect holds no state of a row: the Part 10 reader keeps the effect of
# an element's bytes and replays it for the same bytes in the next file (most of a
# series' header repeats from file to file).
SET_VALUE, _SET_COPY, _GROUP, OTHER_TEXT, _UNPARSED, _DROPPED, _RUN = range(7)
Effect = tuple[Any, ...]


def placement(number: int, vr: str, items: list[Any], size: int) -> Effect:
    """What putting one element's values (a list) in a row does (every rule but sequences).

    >>> placement(0x00100020, "LO", ["p1"], 2)[1:3]
    ('PatientID', 'p1')
    """
    plan = _plan(number, vr)
    kind = plan.kind
    if kind == _DROP:
        return (_DROPPED, plan.info.name)
    if size > MAX_VALUE_BYTES:  # over ~1 MB: dropped, private or not (SPEC §1)
        return (_DROPPED, plan.info.keyword or plan.info.name)
    if kind == _OTHER:
        return (OTHER_TEXT, plan.tag_name, other_texts(items, vr))
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
                kind = _SET_COPY if isinstance(shaped, (list, dict)) else SET_VALUE
                return (kind, info.keyword, shaped, plan.column)
            return (_GROUP, info.keyword, plan.group_id, shaped, plan.column)
    return (_UNPARSED, info.keyword, plan.tag_name, other_texts(items, vr))


def _fresh(value: Any) -> Any:
    """A copy of a list or dict value (a person name, say), so that no two rows share one."""
    if isinstance(value, list):
        return [_fresh(v) if isinstance(v, (list, dict)) else v for v in value]
    if isinstance(value, dict):
        return {k: _fresh(v) if isinstance(v, (list, dict)) else v for k, v in value.items()}
    return value


def combined(effects: list[Effect]) -> Effect | None:
    """One effect doing what ``effects`` do in turn; ``None`` when they cannot be combined
    (an overlay or curve element, which adds to a record of its group).

    >>> level, walk = Level(), Walk()
    >>> run = combined([placement(0x00100020, "LO", ["p1"], 2),
    ...                 placement(0x00091001, "LO", ["v"], 1)])
    >>> replay(run, level, walk)
    >>> level.values, level.other
    ({'PatientID': 'p1'}, [{'Tag': 'Tag_00091001', 'Data': ['v']}])
    """
    values: dict[str, Any] = {}
    columns: dict[str, Column] = {}
    others: list[tuple[str, list[str]]] = []
    unparsed: list[str] = []
    dropped: list[str] = []
    for effect in effects:
        kind = effect[0]
        if kind in (SET_VALUE, _SET_COPY):
            values[effect[1]], columns[effect[1]] = effect[2], effect[3]
        elif kind == OTHER_TEXT:
            others.append((effect[1], effect[2]))
        elif kind == _UNPARSED:
            unparsed.append(effect[1])
            others.append((effect[2], effect[3]))
        elif kind == _DROPPED:
            dropped.append(effect[1])
        else:
            return None
    fresh = tuple(k for k, v in values.items() if isinstance(v, (list, dict)))
    return (_RUN, values, fresh, columns, tuple(others), tuple(unparsed), tuple(dropped))


def replay(effect: Effect, level: Level, walk: Walk) -> None:
    """Do what :func:`placement` (or :func:`combined`) decided to ``level`` and ``walk``."""
    kind = effect[0]
    if kind == _RUN:
        _, values, fresh, columns, others, unparsed, dropped = effect
        level.values.update(values)
        for key in fresh:
            level.values[key] = _fresh(values[key])
        level.columns.update(columns)
        if others:
            level.other.extend([{"Tag": tag, "Data": list(data)} for tag, data in others])
        if unparsed:
            walk.unparsed.extend(unparsed)
        if dropped:
            walk.dropped.extend(dropped)
    elif kind == SET_VALUE:
        level.values[effect[1]], level.columns[effect[1]] = effect[2], effect[3]
    elif kind == _SET_COPY:
        level.values[effect[1]], level.columns[effect[1]] = _fresh(effect[2]), effect[3]
    elif kind == OTHER_TEXT:
        level.other.append({"Tag": effect[1], "Data": list(effect[2])})
    elif kind == _UNPARSED:
        walk.unparsed.append(effect[1])
        level.other.append({"Tag": effect[2], "Data": list(effect[3])})
    elif kind == _DROPPED:
        walk.dropped.append(effect[1])
    else:  # overlay and curve elements: one {Id, Value} record per group
        _, keyword, group_id, value, column = effect
        groups = level.values.setdefault(keyword, [])
        groups.append({"Id": group_id, "Value": _fresh(value)})
        level.columns[keyword] = column


def place(number: int, vr: str, items: list[Any], size: int, level: Level, walk: Walk) -> None:
    """Put one element's values (a list) where its plan says (every rule but sequences)."""
    if walk.bulk and number in walk.bulk:  # sent as bulk data: dropped, whatever it holds
        walk.dropped.append(tag_info(number).name)
        return
    replay(placement(number, vr, items, size), level, walk)


def close_level(level: Level) -> Level:
    """Add the level's ``OtherElements``, when it has any (Google adds none otherwise)."""
    if level.other:
        level.values["OtherElements"] = level.other
        level.columns["OtherElements"] = OTHER_ELEMENTS
    return level


def add_sequence(name: str, flattened: list[Level], level: Level) -> None:
    """A sequence whose items are flattened: a REPEATED record of their merged columns.

    No item with an exportable element: no column (BigQuery has no empty RECORD).
    """
    if len(flattened) == 1:  # the commonest: one item, whose values fit its own columns
        (only,) = flattened
        if only.columns:
            level.values[name] = [only.values]
            level.columns[name] = Column(name, "RECORD", "REPEATED", tuple(only.columns.values()))
            level.nesting = max(level.nesting, 1 + only.nesting)
        return
    fields = merge_columns([f.columns for f in flattened])
    if not fields:
        return
    level.nesting = max(level.nesting, 1 + max(f.nesting for f in flattened))
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


def finish_row(level: Level, walk: Walk) -> FlatRow:
    """The instance's row: nesting cut to BigQuery's limit, ``DroppedTags`` added when any."""
    if level.nesting <= MAX_NESTING:  # no column can be too deep: none to look at
        columns, cut = dict(level.columns), list[str]()
    else:
        columns, cut = limit_nesting(level.values, level.columns)
    walk.dropped.extend(cut)
    row = FlatRow(level.values, columns, walk.skipped, walk.unparsed, walk.dropped)
    if walk.dropped:
        row.values["DroppedTags"] = [{"TagName": name} for name in walk.dropped]
        row.columns["DroppedTags"] = DROPPED_TAGS
    return row
