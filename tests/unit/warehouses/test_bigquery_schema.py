"""The schema a BigQuery append sends: the table's fields first, new ones added at
every level, and a changed type or mode refused naming the field."""

from __future__ import annotations

import pytest

from dicomlab.errors import InvalidRequestError
from dicomlab.warehouses.bigquery_schema import added_fields, merged_fields


def field(name: str, kind: str = "STRING", mode: str = "NULLABLE", fields=None) -> dict:
    out = {"name": name, "type": kind, "mode": mode}
    return out | {"fields": fields} if fields is not None else out


TABLE = [
    field("PatientID"),
    field("ImageType", mode="REPEATED"),
    field("ReferencedImageSequence", "RECORD", "REPEATED", [field("ReferencedSOPInstanceUID")]),
]


def test_new_fields_follow_the_tables_own_at_every_level():
    rows = [
        field("referencedimagesequence", "RECORD", "REPEATED",
              [field("ReferencedFrameNumber", mode="REPEATED")]),
        field("Modality"),
    ]  # fmt: skip
    merged = merged_fields(TABLE, rows)
    assert [f["name"] for f in merged] == [*(f["name"] for f in TABLE), "Modality"]
    nested = merged[2]["fields"]
    assert [f["name"] for f in nested] == ["ReferencedSOPInstanceUID", "ReferencedFrameNumber"]
    assert added_fields(TABLE, merged) == [
        "ReferencedImageSequence.ReferencedFrameNumber",
        "Modality",
    ]
    assert TABLE[2]["fields"] == [field("ReferencedSOPInstanceUID")]  # the input is not changed


def test_the_same_fields_in_other_spellings_add_nothing():
    rows = [field("patientid"), field("ImageType", "STRING", "REPEATED")]
    assert added_fields(TABLE, merged_fields(TABLE, rows)) == []
    assert merged_fields([field("N", "INTEGER")], [field("N", "INT64", "REQUIRED")])[0]["type"] == (
        "INTEGER"
    )


@pytest.mark.parametrize(
    ("rows", "name"),
    [
        pytest.param([field("PatientID", "INTEGER")], "PatientID", id="type"),
        pytest.param([field("ImageType")], "ImageType", id="repeated-to-nullable"),
        pytest.param([field("PatientID", mode="REPEATED")], "PatientID", id="nullable-to-repeated"),
        pytest.param(
            [
                field(
                    "ReferencedImageSequence",
                    "RECORD",
                    "REPEATED",
                    [field("ReferencedSOPInstanceUID", "INTEGER")],
                )
            ],
            "ReferencedImageSequence.ReferencedSOPInstanceUID",
            id="nested-type",
        ),
        pytest.param(
            [field("ReferencedImageSequence", "STRING", "REPEATED")],
            "ReferencedImageSequence",
            id="record-to-string",
        ),
    ],
)
def test_a_changed_type_or_mode_is_refused_naming_the_field(rows, name):
    with pytest.raises(InvalidRequestError) as info:
        merged_fields(TABLE, rows)
    assert info.value.value == name
    assert repr(name) in str(info.value)
