"""The DICOM JSON walk's memory of elements seen before: the same row as a cold walk, always.

``flatten_json`` replays the effect of an element (tag, VR, values) it has
placed before. JSON's ``1``, ``1.0`` and ``true`` are equal in Python, and so
are ``0.0`` and ``-0.0``, but not to DICOM: whatever the walk saw before, a row
must be the row it gives on a cold start, and rows share no mutable value.
"""

from __future__ import annotations

import copy
import itertools

import pytest
from pydicom import config

from dicomlab.rows import jsonwalk
from dicomlab.rows.flatten import flatten_json

from .test_jsonwalk import OBJECTS, _same, _through_pydicom


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch):
    monkeypatch.setattr(jsonwalk, "_EFFECTS", {})


def cold(obj):
    saved = jsonwalk._EFFECTS
    jsonwalk._EFFECTS = {}
    try:
        return flatten_json(obj)
    finally:
        jsonwalk._EFFECTS = saved


def test_every_test_file_in_any_order_gives_its_cold_row():
    expected = [cold(obj) for _, obj in OBJECTS]
    for order in (range(len(OBJECTS)), reversed(range(len(OBJECTS)))):
        for index in order:
            assert _same(flatten_json(OBJECTS[index][1]), expected[index]), OBJECTS[index][0]
    assert jsonwalk._EFFECTS, "elements are remembered"


@pytest.mark.parametrize(
    ("vr", "values"),
    [
        ("IS", [[1], [1.0], [True], ["1"], [1.5]]),
        ("DS", [[0.0], [-0.0], [0], [False], ["0"], ["-0.0"]]),
        ("DS", [[0.0, 1.0], [-0.0, 1.0], [0, 1], [0, True]]),
        ("US", [[1], [True], [1.0], ["1"]]),
        ("FD", [[2.0], [2], [True], [-0.0], [0.0]]),
        ("CS", [["1"], [1], ["A", "B"], ["A\\B"]]),
        ("PN", [[{"Alphabetic": "Doe^J"}], [{"Alphabetic": 1}], [{"Alphabetic": "Doe^J"}] * 2]),
    ],
)
def test_values_equal_in_python_but_not_in_dicom_are_told_apart(vr, values):
    objects = [{"00200013" if vr == "IS" else "00181050": {"vr": vr, "Value": v}} for v in values]
    if vr == "US":
        objects = [{"00280010": o["00181050"]} for o in objects]
    if vr in ("CS", "PN", "FD"):
        tag = {"CS": "00080060", "PN": "00100010", "FD": "00189087"}[vr]
        objects = [{tag: next(iter(o.values()))} for o in objects]
    for first, second in itertools.permutations(objects, 2):
        outcome(flatten_json, first)
        assert outcome(flatten_json, second) == outcome(cold, second), (first, second)
        assert outcome(cold, second) == outcome(_through_pydicom, second), second


def outcome(flatten, obj):
    """The row's parts, or the type of error (pydicom refuses some objects)."""
    try:
        row = flatten(obj)
    except Exception as exc:
        return type(exc)
    return row.values, row.columns, row.skipped, list(row.unparsed), list(row.dropped)


def test_rows_share_no_mutable_value():
    obj = {
        "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
        "00280030": {"vr": "DS", "Value": [0.5, 0.5]},
        "00091001": {"vr": "LO", "Value": ["vendor"]},
    }
    expected = copy.deepcopy(cold(obj).values)
    rows = [flatten_json(obj) for _ in range(3)]  # the first walks, the others replay
    for row in rows[:2]:
        row.values["ImageType"].append("X")
        row.values["PatientName"]["Alphabetic"]["FamilyName"] = "Changed"
        row.values["PixelSpacing"].clear()
        row.values["OtherElements"][0]["Data"].append("more")
    assert rows[2].values == expected
    assert flatten_json(obj).values == expected


def test_dates_pydicom_converts_are_not_replayed(monkeypatch):
    obj = {"00080020": {"vr": "DA", "Value": ["20240101"]}}
    flatten_json(obj)  # remembered while pydicom keeps dates as text
    monkeypatch.setattr(config, "datetime_conversion", True)
    assert _same(flatten_json(obj), _through_pydicom(obj))


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(jsonwalk, "_MAX_EFFECTS", 50)
    for index in range(200):
        obj = {"00080018": {"vr": "UI", "Value": [f"1.2.{index}"]}}
        assert flatten_json(obj).values["SOPInstanceUID"] == f"1.2.{index}"
        assert len(jsonwalk._EFFECTS) <= 50


def test_a_tag_sent_as_bulk_data_is_still_checked_where_it_comes_inline():
    # InstanceNumber as bulk data in an item and inline, not a whole number, at the top:
    # pydicom refuses the object, and so does the walk (the export counts a failure).
    obj = {
        "00080018": {"vr": "UI", "Value": ["1.2.3"]},
        "00081110": {"vr": "SQ", "Value": [{"00200013": {"vr": "IS", "BulkDataURI": "x"}}]},
        "00200013": {"vr": "IS", "Value": ["1.5"]},
    }
    assert outcome(_through_pydicom, obj) is ValueError
    assert outcome(flatten_json, obj) is ValueError
    good = {**obj, "00200013": {"vr": "IS", "Value": ["7"]}}
    assert outcome(flatten_json, good) == outcome(_through_pydicom, good)
