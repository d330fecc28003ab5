import datetime as dt

import pytest
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence

from dicomlab.schema import (
    VR_TYPES,
    Column,
    conform,
    flatten_dataset,
    merge_columns,
    parse_da,
    parse_dt,
    parse_tm,
)


def test_vr_table_matches_spec():
    assert {vr for vr, t in VR_TYPES.items() if t == "STRING"} >= {"DS", "IS", "UI", "CS", "LO"}
    assert VR_TYPES["DA"] == "DATE" and VR_TYPES["TM"] == "TIME" and VR_TYPES["DT"] == "TIMESTAMP"
    assert VR_TYPES["FD"] == "FLOAT" and VR_TYPES["US"] == "INTEGER" and VR_TYPES["AT"] == "INTEGER"


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
    ds.add_new(0x00181318, "DS", "1")  # dB/dt: VM 1
    ds.RescaleSlope = "1"
    row = flatten_dataset(ds)
    v, c = row.values, row.columns
    assert v["StudyDate"] == dt.date(1998, 9, 24)
    assert v["StudyTime"] == dt.time(7, 59, 11, 500000)
    assert v["AcquisitionDateTime"] == dt.datetime(2001, 1, 1, 12, tzinfo=dt.timezone.utc)
    assert v["SliceThickness"] == "1.250" and c["SliceThickness"].type == "STRING"
    assert v["InstanceNumber"] == "7" and c["InstanceNumber"] == Column("InstanceNumber", "STRING")
    assert v["PixelSpacing"] == ["0.5", "0.25"]
    assert c["PixelSpacing"] == Column("PixelSpacing", "STRING", "REPEATED")
    assert v["Rows"] == 512 and c["Rows"].type == "INTEGER"
    assert c["ImageType"].mode == "REPEATED"
    assert c["StudyTime"] == Column("StudyTime", "TIME")


def test_single_value_of_multi_vm_element_is_still_a_list():
    ds = Dataset()
    ds.ImageType = "ORIGINAL"
    assert flatten_dataset(ds).values["ImageType"] == ["ORIGINAL"]


def test_person_name_record():
    ds = Dataset()
    ds.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    ds.ReferringPhysicianName = ""
    row = flatten_dataset(ds)
    name = row.values["PatientName"]
    assert name["Alphabetic"]["FamilyName"] == "Yamada"
    assert name["Ideographic"]["GivenName"] == "太郎"
    assert name["Phonetic"]["FamilyName"] == "やまだ"
    assert name["Alphabetic"]["MiddleName"] is None
    assert row.values["ReferringPhysicianName"] is None
    assert row.columns["PatientName"].type == "RECORD"


def test_private_sequences_and_binary_are_skipped():
    ds = Dataset()
    ds.PatientID = "1"
    ds.add_new(0x00091001, "LO", "private")
    ds.ReferencedSeriesSequence = Sequence([Dataset()])
    ds.add_new(0x7FE00010, "OB", b"\x00\x01")
    ds.add_new(0x60000010, "US", 16)  # repeating group (overlay rows)
    row = flatten_dataset(ds)
    assert set(row.values) == {"PatientID"}
    assert row.skipped == 4


def test_bad_values_become_null_and_are_reported():
    ds = Dataset()
    ds.StudyDate = "2001-13-45"
    ds.StudyTime = "99"
    row = flatten_dataset(ds)
    assert row.values["StudyDate"] is None and row.values["StudyTime"] is None
    assert sorted(row.unparsed) == ["StudyDate", "StudyTime"]


def test_file_meta_kept_except_group_length_and_version():
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.FileMetaInformationVersion = b"\x00\x01"
    ds.file_meta.FileMetaInformationGroupLength = 100
    values = flatten_dataset(ds).values
    assert values["TransferSyntaxUID"] == "1.2.840.10008.1.2.1"
    assert "MediaStorageSOPClassUID" in values
    assert "FileMetaInformationGroupLength" not in values
    assert "FileMetaInformationVersion" not in values


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


def test_parse_tm_and_dt():
    assert parse_tm("07") == dt.time(7)
    assert parse_tm("235960") == dt.time(23, 59, 59)  # leap second clamps
    assert parse_tm("25") is None
    assert parse_dt("2001") == dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
    assert parse_dt("20010101000000-0500") == dt.datetime(2001, 1, 1, 5, tzinfo=dt.timezone.utc)
    assert parse_dt("x") is None


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


def test_every_sample_instance_flattens(sample_files):
    for path in sample_files:
        row = flatten_dataset(dcmread(path, stop_before_pixels=True))
        assert row.values["SOPInstanceUID"]
        for name, column in row.columns.items():
            value = row.values[name]
            if column.mode == "REPEATED":
                assert isinstance(value, list), name


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
    assert row.values["SliceThickness"] == "abc.defg"
    assert row.values["InstanceNumber"] == "1x"
    assert row.columns["SliceThickness"] == Column("SliceThickness", "STRING")
    assert row.values["PatientID"] == ds.PatientID
