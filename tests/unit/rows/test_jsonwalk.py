"""The DICOM JSON fast path gives the very row of pydicom's path (``Dataset.from_json``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom import Dataset

from dicomlab.rows.flatten import _flatten_level, _without_bulk, flatten_json
from dicomlab.rows.jsonwalk import JsonDeclined, json_level
from dicomlab.rows.placement import Walk, finish_row
from dicomlab.rows.schema import FlatRow


def _through_pydicom(obj: dict[str, Any]) -> FlatRow:
    walk = Walk()
    plain = _without_bulk(obj, walk.bulk)
    return finish_row(_flatten_level([Dataset.from_json(plain)], walk), walk)


def _fast(obj: dict[str, Any]) -> bool:
    walk = Walk()
    try:
        json_level(_without_bulk(obj, walk.bulk), walk)
    except JsonDeclined:
        return False
    return True


def _same(a: FlatRow, b: FlatRow) -> bool:
    return (a.values, a.columns, a.skipped) == (b.values, b.columns, b.skipped) and (
        list(a.unparsed),
        list(a.dropped),
    ) == (list(b.unparsed), list(b.dropped))


def _objects() -> list[tuple[str, dict[str, Any]]]:
    """pydicom's test files as a server sends them: JSON text, large values as bulk data."""
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*")):
            try:
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
                obj = ds.to_json_dict(1024, lambda element: "http://server/bulk")
            except Exception:  # not DICOM, or not expressible as JSON
                continue
            found.append((path.name, json.loads(json.dumps(obj))))
    return found


OBJECTS = _objects()


def test_every_test_file_gives_the_same_row_both_ways():
    assert len(OBJECTS) > 50
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, obj in OBJECTS:
            assert _same(flatten_json(obj), _through_pydicom(obj)), name


def test_most_test_files_take_the_fast_path():
    # AT elements (and inline binary) decline the object: pydicom's path reads those.
    assert sum(map(_fast, (obj for _, obj in OBJECTS))) >= 0.6 * len(OBJECTS)


def test_values_are_those_pydicom_gives():
    obj = {
        "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^J", "Ideographic": "D"}]},
        "00180050": {"vr": "DS", "Value": [5]},
        "00200013": {"vr": "IS", "Value": ["7"]},
        "00280030": {"vr": "DS", "Value": [0.5, "0.25"]},
        "00280010": {"vr": "US", "Value": [512]},
        "00081030": {"vr": "LO", "Value": [""]},
        "00091001": {"vr": "LO", "Value": ["vendor"]},
        "00081140": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2"]}}, {}]},
    }
    assert _fast(obj)
    row = flatten_json(obj)
    assert _same(row, _through_pydicom(obj))
    assert row.values["SliceThickness"] == "5.0" and row.values["InstanceNumber"] == "7"
    assert row.values["PatientName"]["Ideographic"]["FamilyName"] == "D"


@pytest.mark.parametrize(
    "element",
    [
        {"vr": "AT", "Value": ["00100010"]},
        {"vr": "LO", "Value": ["a\\b"]},  # pydicom splits it into two values
        {"vr": "US", "Value": ["not a number"]},
        {"vr": "LO", "Value": [7]},
        {"vr": "OB", "InlineBinary": "AAE="},
    ],
)
def test_what_the_fast_path_declines_goes_through_pydicom(element):
    obj = {"00100020": {"vr": "LO", "Value": ["p1"]}, "00110010": element}
    assert not _fast(obj)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected: FlatRow | str = _through_pydicom(obj)
        except Exception as exc:
            expected = type(exc).__name__
        try:
            row: FlatRow | str = flatten_json(obj)
        except Exception as exc:
            row = type(exc).__name__
    assert row == expected if isinstance(row, str) else _same(row, expected)  # type: ignore[arg-type]


def test_bulk_data_anywhere_is_dropped_and_the_object_kept_as_it_was():
    item = {"00660023": {"vr": "OF", "BulkDataURI": "http://server/1"}}
    obj = {
        "00100020": {"vr": "LO", "Value": ["p1"]},
        "00660002": {"vr": "SQ", "Value": [item]},
        "00720066": {"vr": "LO", "BulkDataURI": "http://server/2"},
    }
    sent = json.dumps(obj)
    row = flatten_json(obj)
    assert json.dumps(obj) == sent  # the caller's object is not changed
    assert [d["TagName"] for d in row.values["DroppedTags"]] == [
        "TrianglePointIndexList",
        "SelectorLOValue",
    ]
    assert _same(row, _through_pydicom(obj))


@pytest.mark.parametrize(
    ("tag", "element"),
    [
        ("00080018", {"vr": "UI", "Value": [" 1.2.3 "]}),
        ("00081150", {"vr": "UI", "Value": ["1.2", ""]}),
        ("00100010", {"vr": "PN", "Value": [{}]}),
        ("00081060", {"vr": "PN", "Value": [{"Alphabetic": "A^B"}, {"Phonetic": "c"}]}),
        ("00200013", {"vr": "IS", "Value": [5.5]}),
        ("00200013", {"vr": "IS", "Value": ["+0011"]}),
        ("00200013", {"vr": "IS", "Value": [1, 2]}),  # several values where one is allowed
        ("00180050", {"vr": "DS", "Value": ["1e3"]}),
        ("00180050", {"vr": "DS", "Value": [1e-7]}),
        ("00280030", {"vr": "DS", "Value": [1]}),
        ("00280010", {"vr": "US", "Value": [70000]}),  # out of range: as pydicom keeps it
        ("00100030", {"vr": "DA", "Value": ["2001013"]}),  # not a date: OtherElements
        ("00080060", {"vr": "CS"}),
    ],
)
def test_one_element_gives_the_row_pydicom_gives(tag, element):
    obj = {"00100020": {"vr": "LO", "Value": ["p1"]}, tag: element}
    assert _fast(obj)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _same(flatten_json(obj), _through_pydicom(obj))
