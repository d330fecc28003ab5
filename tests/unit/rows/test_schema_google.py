"""The flattened schema against Google's real exports (IDC's dicom_all) and BigQuery's limits.

Each case is checked on the three ways a row is made: a pydicom Dataset, the
Part 10 fast path from the file's bytes, and DICOM JSON.
"""

from __future__ import annotations

import io

import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from dicomlab.rows.flatten import flatten_dataset, flatten_json, flatten_part10
from dicomlab.rows.schema import MAX_NESTING, Column, FlatRow, limit_nesting


def instance(**elements: object) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.StudyInstanceUID = "1.2.3"
    ds.SeriesInstanceUID = "1.2.3.4"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def rows(ds: Dataset) -> list[FlatRow]:
    """The row from the Dataset, from its Part 10 bytes (fast path) and from its JSON."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    fast = flatten_part10(buffer.getvalue())
    assert fast is not None  # the fast path took it
    from_json = flatten_json({**meta.to_json_dict(), **ds.to_json_dict()})
    return [flatten_dataset(ds), fast, from_json]


def height(column: Column) -> int:
    if column.type != "RECORD":
        return 0
    return 1 + max((height(f) for f in column.fields), default=0)


def test_other_elements_only_where_a_private_element_is() -> None:
    plain, private = Dataset(), Dataset()
    plain.CodeValue = "1"
    private.CodeValue = "2"
    private.add_new(0x00091010, "LO", "ACME")
    private.add_new(0x00091001, "LO", "vendor")
    coded = Dataset()
    coded.CodeValue = "3"
    ds = instance(
        ConceptNameCodeSequence=Sequence([plain, private]),
        ConceptCodeSequence=Sequence([coded]),
    )
    for row in rows(ds):
        assert "OtherElements" not in row.columns
        names = {f.name for f in row.columns["ConceptNameCodeSequence"].fields}
        assert names == {"CodeValue", "OtherElements"}
        first, second = row.values["ConceptNameCodeSequence"]
        assert first["OtherElements"] == []
        assert [o["Tag"] for o in second["OtherElements"]] == ["Tag_00091001", "Tag_00091010"]
        assert [f.name for f in row.columns["ConceptCodeSequence"].fields] == ["CodeValue"]


def test_a_private_element_at_the_top_gives_the_top_level_column() -> None:
    ds = instance()
    ds.add_new(0x00091001, "LO", "vendor")
    for row in rows(ds):
        assert row.values["OtherElements"] == [{"Tag": "Tag_00091001", "Data": ["vendor"]}]


def test_a_sequence_with_nothing_to_export_has_no_column() -> None:
    empty = Dataset()
    empty.add_new(0x00420011, "OB", b"%PDF")  # EncapsulatedDocument: an excluded VR
    ds = instance(ReferencedImageSequence=Sequence([]), SourceImageSequence=Sequence([empty]))
    for row in rows(ds):
        assert "ReferencedImageSequence" not in row.columns
        assert "SourceImageSequence" not in row.columns
        assert row.values["DroppedTags"] == [{"TagName": "EncapsulatedDocument"}]


@pytest.mark.parametrize("sequence", ["ModalityLUTSequence", "VOILUTSequence"])
def test_lut_data_encoded_as_us_is_binary_and_dropped(sequence) -> None:
    lut = Dataset()
    lut.LUTDescriptor = [4, 0, 16]
    lut.add_new(0x00283006, "US", [0, 100, 200, 300])  # LUTData: "US or OW"
    lut.LUTExplanation = "linear"
    ds = instance(**{sequence: Sequence([lut])})
    for row in rows(ds):
        fields = {f.name: f for f in row.columns[sequence].fields}
        assert "LUTData" not in fields and "LUTData" not in row.values[sequence][0]
        assert fields["LUTDescriptor"] == Column("LUTDescriptor", "INTEGER", "REPEATED")
        assert row.values[sequence][0]["LUTExplanation"] == "linear"
        assert {"TagName": "LUTData"} in row.values["DroppedTags"]


def content(depth: int) -> Dataset:
    """An SR content item whose ContentSequence nests ``depth`` levels (itself included)."""
    item = Dataset()
    item.ValueType = "TEXT"
    item.TextValue = f"level {depth}"
    if depth > 1:
        item.ContentSequence = Sequence([content(depth - 1)])
    return item


def test_a_20_level_content_sequence_keeps_15_levels_and_lists_the_rest() -> None:
    ds = instance(ContentSequence=Sequence([content(20)]))
    for row in rows(ds):
        assert max(height(c) for c in row.columns.values()) == MAX_NESTING
        item, levels = row.values["ContentSequence"][0], 1
        while "ContentSequence" in item:
            item, levels = item["ContentSequence"][0], levels + 1
        assert levels == MAX_NESTING and item["TextValue"] == "level 6"
        assert row.values["DroppedTags"] == [{"TagName": "ContentSequence"}]


def test_a_person_name_that_would_reach_level_16_is_cut_whole() -> None:
    deepest = content(14)
    item = deepest
    while "ContentSequence" in item:
        item = item.ContentSequence[0]
    item.PersonName = "Doe^Jane"  # PN is two RECORD levels: 14 + 2 > 15
    item.TextValue = "kept"
    ds = instance(ContentSequence=Sequence([deepest]))
    for row in rows(ds):
        assert max(height(c) for c in row.columns.values()) <= MAX_NESTING
        assert row.values["DroppedTags"] == [{"TagName": "PersonName"}]
        value = row.values["ContentSequence"][0]
        while "ContentSequence" in value:
            value = value["ContentSequence"][0]
        assert value["TextValue"] == "kept" and "PersonName" not in value


def test_limit_nesting_leaves_shallow_rows_alone() -> None:
    row = {"A": "x", "S": [{"B": 1}]}
    columns = {
        "A": Column("A", "STRING"),
        "S": Column("S", "RECORD", "REPEATED", (Column("B", "INTEGER"),)),
    }
    kept, cut = limit_nesting(row, columns)
    assert kept == columns and cut == [] and row == {"A": "x", "S": [{"B": 1}]}
