"""The fast path of :func:`dicomlab.rows.flatten.flatten_json`: DICOM JSON walked as it is.

Pure: no I/O. Building a pydicom ``Dataset`` from every WADO-RS object (and
walking it) costs more than the rest of an export of a DICOMweb store. The
common elements are placed here straight from the JSON, with the values
pydicom would give them: plain text as it is, numbers through ``int`` or
``float`` (pydicom's ``convert_to_python_number``), PN groups joined and UIDs
stripped as pydicom's element does (:func:`_element_values`). Anything else (a
value of an unexpected type, a backslash in a text value, inline binary, AT,
UN) declines the object: the caller then takes pydicom's full path, which
gives the same row, or says what is wrong.

>>> from dicomlab.rows.placement import Walk, finish_row
>>> obj = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
...        "00180050": {"vr": "DS", "Value": [1.25]}}
>>> walk = Walk()
>>> finish_row(json_level(obj, walk), walk).values["SliceThickness"]
'1.25'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydicom import config

from dicomlab.rows.placement import (
    LEFT_OUT,
    SET_VALUE,
    Effect,
    Level,
    Walk,
    add_sequence,
    close_level,
    placement,
    replay,
    tag_info,
)
from dicomlab.rows.schema import EXCLUDED_VRS

__all__ = ["JsonDeclined", "json_level"]

# Text whose JSON value is the element's value as pydicom keeps it (no conversion).
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UR", "UT"}
)
# Text that may hold a backslash in one value (elsewhere pydicom splits it into values).
_BACKSLASH_VRS = frozenset({"LT", "ST", "UT"})
_DATETIME_VRS = frozenset({"DA", "DT", "TM"})
_INT_VRS = frozenset({"SL", "SS", "SV", "UL", "US", "UV"})
_FLOAT_VRS = frozenset({"FD", "FL"})
# Values that pydicom's element converts: DS and IS (numbers in JSON), PN, UI.
_ELEMENT_VRS = frozenset({"DS", "IS", "PN", "UI"})


class JsonDeclined(Exception):
    """The object has something off the fast path: flatten it through pydicom."""


def json_level(obj: Mapping[str, Any], walk: Walk) -> Level:
    """Place the elements of one DICOM JSON object (an instance or an item), closed.

    ``walk`` collects as for a dataset. An element with bulk data declines the
    object unless it is left out anyway (pixel data): take those elements out
    first, their tags in ``walk.bulk``. Raises :class:`JsonDeclined` at the
    first element off the fast path.
    """
    level = Level()
    values_of, columns_of = level.values, level.columns
    try:
        numbered = sorted([(int(key, 16), key) for key in obj])
    except (TypeError, ValueError):
        raise JsonDeclined from None
    # Elements seen before may be replayed (below: the commonest, one plain value) unless
    # bulk data was taken out or pydicom makes date and time objects: then each is read.
    memory = not walk.bulk and not config.datetime_conversion
    for number, key in numbered:
        element = obj[key]
        if memory and type(element) is dict and len(element) == 2:  # {"vr", "Value"}
            values = element.get("Value")
            if type(values) is list:
                one = values[0] if len(values) == 1 else None
                if type(one) is str or type(one) is int:  # the commonest: one value
                    memo: tuple[Any, ...] | None = (key, element.get("vr"), type(one), one)
                else:
                    memo = _memo_key(key, element.get("vr"), values)
                effect = _EFFECTS.get(memo) if memo is not None else None
                if effect is not None:
                    if effect[0] == SET_VALUE:
                        values_of[effect[1]], columns_of[effect[1]] = effect[2], effect[3]
                    else:
                        replay(effect, level, walk)
                    continue
        if len(key) != 8:
            raise JsonDeclined
        if number in LEFT_OUT or not number & 0xFFFF:
            walk.skipped += 1
            continue
        if not isinstance(element, dict) or "InlineBinary" in element or "BulkDataURI" in element:
            raise JsonDeclined
        vr = element.get("vr")
        values = element.get("Value")
        if not isinstance(vr, str):
            raise JsonDeclined
        if values is not None and (not isinstance(values, list) or None in values):
            raise JsonDeclined
        if vr == "SQ":
            items = []
            for item in values or []:
                if not isinstance(item, dict):
                    raise JsonDeclined
                items.append(json_level(item, walk))
            add_sequence(tag_info(number).name, items, level)
            continue
        memo = _memo_key(key, vr, values) if memory else None
        effect = _EFFECTS.get(memo) if memo is not None else None
        if effect is None:
            # Checked even where the tag is dropped: pydicom reads every copy of it.
            items, size = _values(vr, values or [])
            if walk.bulk and number in walk.bulk:  # sent as bulk data elsewhere: dropped
                walk.dropped.append(tag_info(number).name)
                continue
            effect = placement(number, vr, items, size)
            if memo is not None:
                if len(_EFFECTS) >= _MAX_EFFECTS:
                    _EFFECTS.clear()
                _EFFECTS[memo] = effect
        replay(effect, level, walk)
    return close_level(level)


# The effect of each element seen before (most of a series' metadata repeats from one
# instance to the next), keyed by its tag, VR and values with their types: JSON's 1,
# 1.0 and true are equal in Python but not to DICOM. Cleared whole when full.
_EFFECTS: dict[tuple[Any, ...], Effect] = {}
_MAX_EFFECTS = 1 << 16
_SCALARS = frozenset({str, int, float})


def _memo_key(key: str, vr: Any, values: list[Any] | None) -> tuple[Any, ...] | None:
    """What decides an element's effect, hashable; ``None`` for values not worth keeping
    (long text, several person names) or not plain (the walk then declines or converts
    them)."""
    if not values:
        return (key, vr)
    if len(values) == 1:
        one = values[0]
        kind = type(one)
        if kind is dict:  # a person name: its groups, when they are text
            groups = tuple(one.items())
            return (key, vr, kind, groups) if all(type(g) is str for _, g in groups) else None
        if kind not in _SCALARS or (kind is str and len(one) > _MAX_KEPT_TEXT):
            return None
        if kind is float and one == 0.0:
            return None  # 0.0 == -0.0, yet a DS of -0.0 reads "-0.0"
        return (key, vr, kind, one)
    kinds = tuple(map(type, values))
    if not _SCALARS.issuperset(kinds) or (float in kinds and 0.0 in values):
        return None
    return (key, vr, kinds, tuple(values))


_MAX_KEPT_TEXT = 1024


def _values(vr: str, values: list[Any]) -> tuple[list[Any], int]:
    """An element's values as pydicom holds them (a list), and its size as flattening counts it."""
    if not values:
        if vr in EXCLUDED_VRS or vr in _TEXT_VRS or vr in _INT_VRS or vr in _FLOAT_VRS:
            return [], 0
        if vr in _ELEMENT_VRS:
            return [], 0
        raise JsonDeclined
    if vr in _TEXT_VRS:
        if vr in _DATETIME_VRS and config.datetime_conversion:
            raise JsonDeclined  # pydicom makes date and time objects of them
        if len(values) == 1:  # most elements: the same rules as below, for one value
            one = values[0]
            if not isinstance(one, str) or ("\\" in one and vr not in _BACKSLASH_VRS):
                raise JsonDeclined
            return ([] if one == "" else [one]), len(one)
        if not all(isinstance(v, str) for v in values):
            raise JsonDeclined
        if vr not in _BACKSLASH_VRS and any("\\" in v for v in values):
            raise JsonDeclined
        return list(values), 0  # a copy: the row never shares the caller's lists
    if vr in _INT_VRS or vr in _FLOAT_VRS:
        kind = int if vr in _INT_VRS else float
        try:
            return [kind(v) for v in values], 0
        except (TypeError, ValueError):
            raise JsonDeclined from None
    if vr in _ELEMENT_VRS:
        return _element_values(vr, values)
    raise JsonDeclined


def _element_values(vr: str, values: list[Any]) -> tuple[list[Any], int]:
    """DS, IS, PN and UI values as pydicom's element holds them, for flattening.

    ``Dataset.from_json`` turns DS into ``float`` then ``DSfloat``, IS into ``int``
    then ``IS``, joins a PN's groups with ``=`` and strips a UID: flattening reads
    the same text from the plain float, int and strings made here. Only a single
    UID (a ``str``) has a size; an element of several values has none.
    """
    if vr == "PN":
        if not all(isinstance(v, dict) for v in values):
            raise JsonDeclined
        found: list[Any] = [_person_name(v) for v in values]
        return ([] if found == [""] else found), 0
    if vr == "UI":
        if not all(isinstance(v, str) and "\\" not in v for v in values):
            raise JsonDeclined
        found = [v.strip() for v in values]
        if len(found) > 1:
            return found, 0
        return ([] if found == [""] else found), len(found[0])
    if not all(type(v) in (int, float, str) for v in values):
        raise JsonDeclined
    kind = float if vr == "DS" else int
    try:
        return [kind(v) for v in values], 0
    except (TypeError, ValueError, OverflowError):
        raise JsonDeclined from None


def _person_name(value: Mapping[str, Any]) -> str:
    """A PN value's groups as one string (pydicom's ``get_pn_element_value``)."""
    if "Phonetic" in value:
        groups = ["", "", ""]
    elif "Ideographic" in value:
        groups = ["", ""]
    else:
        groups = [""]
    for index, name in enumerate(("Alphabetic", "Ideographic", "Phonetic")):
        if name in value:
            if not isinstance(value[name], str):
                raise JsonDeclined
            groups[index] = value[name]
    return "=".join(groups)
