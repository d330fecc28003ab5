import datetime as dt

import pytest
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence

from dicomlab.rows.flatten import MAX_VALUE_BYTES, flatten_dataset, flatten_json
from dicomlab.rows.schema import (
    DROPPED_TAGS,
    OTHER_ELEMENTS,
    PN_FIELDS,
    VR_TYPES,
    Column,
    conform,
    duckdb_type,
    merge_columns,
)
from dicomlab.rows.values import canonical_ds, canonical_is, parse_da, parse_dt, parse_tm


def test_vr_table_matches_spec():
    assert {vr for vr, t in VR_TYPES.items() if t == "STRING"} >= {"DS", "IS", "UI", "CS", "LO"}
    assert VR_TYPES["DA"] == "DATE" and VR_TYPES["TM"] == "TIME" and VR_TYPES["DT"] == "TIMESTAMP"
    assert VR_TYPES["FD"] == "FLOAT" and VR_TYPES["US"] == "INTEGER" and VR_TYPES["AT"] == "INTEGER"
    assert VR_TYPES["PN"] == VR_TYPES["SQ"] == "RECORD"


def test_types_and_modes():
    ds = Dataset()
    ds.StudyDate = "19980924"
    ds.StudyTime = "075911.5"
    ds.AcquisitionDateTime = "20010101120000"
    ds.SliceThickness = "1.250"
    ds.InstanceNumber = "7"
    ds.PixelSpacing = ["0.5", "0.25"]
    ds.Rows = 512
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.FrameIncrementPointer = 0x00181063
    row = flatten_dataset(ds)
    v, c = row.values, row.columns
    assert v["StudyDate"] == dt.date(1998, 9, 24)
    assert v["StudyTime"] == dt.time(7, 59, 11, 500000)
    assert v["AcquisitionDateTime"] == dt.datetime(2001, 1, 1, 12, tzinfo=dt.timezone.utc)
    assert v["SliceThickness"] == "1.25" and c["SliceThickness"] == Column(
        "SliceThickness", "STRING"
    )
    assert v["InstanceNumber"] == "7"
    assert v["PixelSpacing"] == ["0.5", "0.25"]
    assert c["PixelSpacing"] == Column("PixelSpacing", "STRING", "REPEATED")
    assert v["Rows"] == 512 and c["Rows"].type == "INTEGER"
    assert c["ImageType"].mode == "REPEATED"
    assert v["FrameIncrementPointer"] == [0x00181063]
    assert c["FrameIncrementPointer"] == Column("FrameIncrementPointer", "INTEGER", "REPEATED")
    # No private element at all: no OtherElements column (Google adds none).
    assert "OtherElements" not in v and "OtherElements" not in c
    assert "DroppedTags" not in v and row.unparsed == [] and row.dropped == []


def test_single_value_of_multi_vm_element_is_still_a_list():
    ds = Dataset()
    ds.ImageType = "ORIGINAL"
    assert flatten_dataset(ds).values["ImageType"] == ["ORIGINAL"]


def test_person_names():
    ds = Dataset()
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.ReferringPhysicianName = ""
    ds.OperatorsName = ["Doe^Jane", "Roe^Rick"]
    row = flatten_dataset(ds)
    name = row.values["PatientName"]
    assert name["Alphabetic"]["FamilyName"] == "Yamada"
    assert name["Ideographic"]["GivenName"] == "太郎"
    assert name["Phonetic"]["FamilyName"] == "やまだ"
    assert name["Alphabetic"]["MiddleName"] is None
    assert row.values["ReferringPhysicianName"] is None
    assert row.columns["PatientName"] == Column("PatientName", "RECORD", "NULLABLE", PN_FIELDS)
    assert row.columns["OperatorsName"].mode == "REPEATED"
    assert [n["Alphabetic"]["FamilyName"] for n in row.values["OperatorsName"]] == ["Doe", "Roe"]


def test_other_elements_exist_only_in_sequences_whose_items_have_one():
    item1, item2 = Dataset(), Dataset()
    item1.SeriesInstanceUID = "1.2.3"
    item2.SeriesInstanceUID = "1.2.4"
    item2.add_new(0x00091001, "LO", "private in an item")
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = "1.2.4.1"
    item2.ReferencedInstanceSequence = Sequence([inner])
    ds = Dataset()
    ds.ReferencedSeriesSequence = Sequence([item1, item2])
    row = flatten_dataset(ds)
    column = row.columns["ReferencedSeriesSequence"]
    assert column.type == "RECORD" and column.mode == "REPEATED"
    assert {f.name for f in column.fields} == {
        "OtherElements",
        "SeriesInstanceUID",
        "ReferencedInstanceSequence",
    }
    first, second = row.values["ReferencedSeriesSequence"]
    assert first == {
        "OtherElements": [],
        "SeriesInstanceUID": "1.2.3",
        "ReferencedInstanceSequence": [],
    }
    assert second["OtherElements"] == [{"Tag": "Tag_00091001", "Data": ["private in an item"]}]
    assert second["ReferencedInstanceSequence"][0]["ReferencedSOPInstanceUID"] == "1.2.4.1"
    # The inner sequence's items hold no private element, nor does the top level.
    inner = {f.name: f for f in column.fields}["ReferencedInstanceSequence"]
    assert [f.name for f in inner.fields] == ["ReferencedSOPInstanceUID"]
    assert "OtherElements" not in row.columns and "OtherElements" not in row.values


def test_private_elements_sequences_and_dropped_tags():
    ds = Dataset()
    ds.PatientID = "1"
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "DS", ["1.500", "2"])
    ds.add_new(0x00091002, "OB", b"\x00\x01")
    private_item = Dataset()
    private_item.PatientID = "nested"
    ds.add_new(0x00291010, "SQ", Sequence([private_item]))
    ds.add_new(0x00420011, "OB", b"%PDF")  # EncapsulatedDocument: excluded VR
    ds.add_new(0x7FE00010, "OW", b"\x00\x00")  # pixel data: left out, not dropped
    row = flatten_dataset(ds)
    assert row.values["OtherElements"] == [
        {"Tag": "Tag_00090010", "Data": ["ACME 1.0"]},
        {"Tag": "Tag_00091001", "Data": ["1.5", "2.0"]},
    ]
    assert row.values["Tag_00291010"][0]["PatientID"] == "nested"
    assert row.columns["Tag_00291010"].mode == "REPEATED"
    assert row.values["DroppedTags"] == [
        {"TagName": "Tag_00091002"},
        {"TagName": "EncapsulatedDocument"},
    ]
    assert row.columns["DroppedTags"] == DROPPED_TAGS
    assert "PixelData" not in row.values and "EncapsulatedDocument" not in row.values


def test_repeating_groups_become_id_value_records():
    ds = Dataset()
    ds.add_new(0x60000010, "US", 16)
    ds.add_new(0x60020010, "US", 32)
    ds.add_new(0x60000050, "SS", [1, 1])
    row = flatten_dataset(ds)
    assert row.values["OverlayRows"] == [{"Id": "6000", "Value": 16}, {"Id": "6002", "Value": 32}]
    assert row.values["OverlayOrigin"] == [{"Id": "6000", "Value": [1, 1]}]
    assert row.columns["OverlayOrigin"].fields[1] == Column("Value", "INTEGER", "REPEATED")


def test_bad_values_go_to_other_elements_and_are_counted():
    ds = Dataset()
    ds.add_new(0x00080020, "DA", "2001-13-45")
    ds.add_new(0x00080030, "TM", "99")
    ds.add_new(0x00100020, "LO", ["two", "values"])  # PatientID has VM 1
    ds.add_new(0x00280010, "SS", 5)  # Rows is US in the dictionary: same type, fine
    ds.add_new(0x00181050, "LO", "x")  # SpatialResolution is DS (STRING): fine
    ds.add_new(0x00280030, "FD", [0.5, 0.5])  # PixelSpacing is DS: type mismatch
    row = flatten_dataset(ds)
    tags = {o["Tag"]: o["Data"] for o in row.values["OtherElements"]}
    assert tags == {
        "Tag_00080020": ["2001-13-45"],
        "Tag_00080030": ["99"],
        "Tag_00100020": ["two", "values"],
        "Tag_00280030": ["0.5", "0.5"],
    }
    assert sorted(row.unparsed) == ["PatientID", "PixelSpacing", "StudyDate", "StudyTime"]
    assert row.values["Rows"] == 5 and row.values["SpatialResolution"] == "x"
    for name in row.unparsed:
        assert name not in row.values


def test_values_over_a_megabyte_are_dropped():
    ds = Dataset()
    ds.add_new(0x00204000, "LT", "x" * (MAX_VALUE_BYTES + 2))  # ImageComments
    ds.PatientID = "1"
    row = flatten_dataset(ds)
    assert "ImageComments" not in row.values
    assert row.values["DroppedTags"] == [{"TagName": "ImageComments"}]


def test_file_meta_kept_except_group_length_and_version():
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.FileMetaInformationVersion = b"\x00\x01"
    ds.file_meta.FileMetaInformationGroupLength = 100
    row = flatten_dataset(ds)
    assert row.values["TransferSyntaxUID"] == "1.2.840.10008.1.2.1"
    assert "MediaStorageSOPClassUID" in row.values
    assert "FileMetaInformationGroupLength" not in row.values
    assert "FileMetaInformationVersion" not in row.values and "DroppedTags" not in row.values


def test_json_bulk_data_is_dropped():
    obj = {
        "00100020": {"vr": "LO", "Value": ["1"]},
        "00204000": {"vr": "LT", "BulkDataURI": "http://x/bulk/1"},
    }
    row = flatten_json(obj)
    assert row.values["PatientID"] == "1"
    assert row.values["DroppedTags"] == [{"TagName": "ImageComments"}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20010101", dt.date(2001, 1, 1)),
        ("2001.01.01", dt.date(2001, 1, 1)),
        ("20010230", None),
        ("", None),
    ],
)
def test_parse_da(text, expected):
    assert parse_da(text) == expected


def test_parse_tm_dt_and_canonical_numbers():
    assert parse_tm("07") == dt.time(7)
    assert parse_tm("235960") == dt.time(23, 59, 59)  # leap second clamps
    assert parse_tm("25") is None
    assert parse_dt("2001") == dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
    assert parse_dt("20010101000000-0500") == dt.datetime(2001, 1, 1, 5, tzinfo=dt.timezone.utc)
    assert parse_dt("x") is None
    assert canonical_ds("0.661468") == "0.661468" and canonical_ds(-0.0) == "-0.0"
    assert canonical_is(" -12 ") == "-12"


def test_merge_widens_never_narrows_and_conform():
    merged = merge_columns(
        [
            {"A": Column("A", "STRING", "REPEATED"), "B": Column("B", "INTEGER")},
            {"A": Column("A", "STRING"), "B": Column("B", "STRING")},
        ]
    )
    assert merged["A"].mode == "REPEATED"
    assert merged["B"] == Column("B", "INTEGER")
    assert conform("x", Column("A", "STRING"), merged["A"]) == ["x"]
    assert conform(None, None, merged["A"]) == []
    assert conform("5", Column("B", "STRING"), merged["B"]) is None


def test_merge_records_unions_fields_recursively():
    a = Column("S", "RECORD", "REPEATED", (Column("X", "STRING"),))
    b = Column(
        "S", "RECORD", "REPEATED", (Column("Y", "INTEGER"), Column("X", "STRING", "REPEATED"))
    )
    merged = merge_columns([{"S": a}, {"S": b}])["S"]
    assert merged.fields == (Column("X", "STRING", "REPEATED"), Column("Y", "INTEGER"))
    assert conform([{"X": "1"}], a, merged) == [{"X": ["1"], "Y": None}]


def test_duckdb_types():
    assert duckdb_type(Column("A", "TIMESTAMP")) == "TIMESTAMP WITH TIME ZONE"
    pn = duckdb_type(Column("P", "RECORD", fields=PN_FIELDS))
    assert pn.startswith('STRUCT("Alphabetic" STRUCT("FamilyName" VARCHAR')
    assert duckdb_type(OTHER_ELEMENTS) == 'STRUCT("Tag" VARCHAR, "Data" VARCHAR[])[]'


def test_every_sample_instance_flattens(sample_files):
    for path in sample_files:
        row = flatten_dataset(dcmread(path, stop_before_pixels=True))
        assert row.values["SOPInstanceUID"]
        for name, column in row.columns.items():
            if column.mode == "REPEATED":
                assert isinstance(row.values[name], list), name


def test_values_pydicom_rejects_are_kept_as_text(tmp_path):
    from pydicom.data import get_testdata_file

    ds = dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.SliceThickness = "7.123456"
    ds.InstanceNumber = "11"
    ds.save_as(tmp_path / "ok.dcm")
    data = (tmp_path / "ok.dcm").read_bytes()
    assert data.count(b"7.123456") == 1 and data.count(b"IS\x02\x0011") == 1
    data = data.replace(b"7.123456", b"abc.defg").replace(b"IS\x02\x0011", b"IS\x02\x001x")
    (tmp_path / "bad.dcm").write_bytes(data)
    row = flatten_dataset(dcmread(tmp_path / "bad.dcm", stop_before_pixels=True))
    # A number that is not one breaks its VR: kept whole in OtherElements, and counted.
    assert "SliceThickness" not in row.values and "InstanceNumber" not in row.values
    other = {item["Tag"]: item["Data"] for item in row.values["OtherElements"]}
    assert other["Tag_00180050"] == ["abc.defg"] and other["Tag_00200013"] == ["1x"]
    assert set(row.unparsed) == {"SliceThickness", "InstanceNumber"}
    assert row.values["PatientID"] == ds.PatientID


def test_dates_and_times_take_ascii_digits_only():
    # Other scripts' digits are digits to Python, never to DICOM.
    assert parse_da("２００１０１０１") is None and parse_da("20010101") == dt.date(2001, 1, 1)
    assert parse_tm("١٢٣٠") is None and parse_tm("1230") == dt.time(12, 30)
    assert parse_dt("٢٠٠١") is None and parse_dt("2001") is not None
