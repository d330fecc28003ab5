"""The Part 10 reader's memory of headers seen before: the same row as a cold read, always.

``flatten_part10`` replays the effect of element bytes (and of runs of elements)
it has seen in earlier files. Whatever it saw before, and in whatever order, a
file's row must be the row pydicom's path gives, no two rows may share a
mutable value, and the memory stays bounded.
"""

from __future__ import annotations

import copy
import random
import struct
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomlab.rows import part10
from dicomlab.rows.flatten import flatten_dataset, flatten_part10
from dicomlab.samples.realistic import generate_rich_headers

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch):
    """Each test starts with a reader that has seen nothing."""
    monkeypatch.setattr(part10, "_MEMORIES", {})


def parts(row):
    return row.values, row.columns, row.skipped, row.unparsed, row.dropped


def cold(data: bytes):
    """The row of ``data`` read by a reader that has seen nothing before."""
    saved = part10._MEMORIES
    part10._MEMORIES = {}
    try:
        return flatten_part10(data)
    finally:
        part10._MEMORIES = saved


def pydicom_row(data: bytes):
    from io import BytesIO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flatten_dataset(pydicom.dcmread(BytesIO(data), stop_before_pixels=True))


def encoded(ds: Dataset) -> bytes:
    from io import BytesIO

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def base(**values) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.1", "1.2.3.2"
    ds.SOPInstanceUID = generate_uid()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_a_series_of_rich_headers_gives_pydicoms_rows_once_the_reader_remembers(tmp_path):
    generate_rich_headers(tmp_path, n=12, per_series=4)
    files = sorted(tmp_path.rglob("*.dcm"))
    datas = [f.read_bytes() for f in files]
    order = datas + datas[::-1] + random.Random(5).sample(datas, len(datas))
    for data in order:
        row = flatten_part10(data)
        assert row is not None
        assert parts(row) == parts(pydicom_row(data))
    runs = sum(len(memory.runs) for memory in part10._MEMORIES.values())
    # Runs of repeated elements are remembered, far fewer than the elements of a file.
    assert 0 < runs < 100


def test_every_shipped_file_in_any_order_gives_its_cold_row():
    datas = [p.read_bytes() for p in sorted(TEST_FILES.rglob("*")) if p.is_file()]
    expected = [cold(d) for d in datas]
    assert sum(r is not None for r in expected) > 80
    for order in (range(len(datas)), reversed(range(len(datas)))):
        for index in order:
            row = flatten_part10(datas[index])
            if expected[index] is None:
                assert row is None
            else:
                assert row is not None and parts(row) == parts(expected[index]), index


def test_rows_share_no_mutable_value():
    ds = base(
        PatientName="Doe^John",
        ImageType=["ORIGINAL", "PRIMARY"],
        ReferencedStudySequence=Sequence([Dataset()]),
    )
    ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID = "1.2.9"
    ds.add_new(0x00091010, "LO", "GEMS_1")
    ds.add_new(0x00091001, "LO", ["a", "b"])
    data = encoded(ds)
    expected = copy.deepcopy(parts(cold(data)))
    rows = [flatten_part10(data) for _ in range(3)]  # the first walks, the others replay

    def scramble(value):
        if isinstance(value, list):
            for item in value:
                scramble(item)
            value.clear()
        elif isinstance(value, dict):
            for item in value.values():
                scramble(item)
            value.clear()

    for row in rows[:2]:
        scramble(row.values)
    assert parts(rows[2]) == expected
    assert parts(flatten_part10(data)) == expected


def test_a_run_is_replayed_only_where_the_same_bytes_follow():
    # A run remembered in a sequence item (Modality, Manufacturer) and the same first
    # element at the top, followed by other elements: read one by one there.
    item = Dataset()
    item.Modality, item.Manufacturer = "CT", "ACME"
    one = base(Modality="CT", Manufacturer="ACME", ReferencedStudySequence=Sequence([item]))
    two = base(Modality="CT", InstitutionName="X", ReferencedStudySequence=Sequence([item]))
    three = base(Modality="CT", Manufacturer="ACME")
    three.ReferencedStudySequence = Sequence([copy.deepcopy(item)])
    three.ReferencedStudySequence[0].Manufacturer = "OTHER"
    for ds in (one, two, one, three, two, one, three):
        data = encoded(ds)
        assert parts(flatten_part10(data)) == parts(pydicom_row(data))


def test_the_same_bytes_under_another_character_set_are_decoded_again():
    latin = base(SpecificCharacterSet="ISO_IR 100")
    utf8 = base(SpecificCharacterSet="ISO_IR 192")
    raw = "Müller^Jörg".encode()  # UTF-8 bytes: "MÃ¼ller..." in Latin-1
    for ds in (latin, utf8):
        ds.add_new(0x00100010, "PN", raw)  # the very bytes in both files
        ds.add_new(0x00081030, "LO", raw)
    rows = [flatten_part10(encoded(ds)) for ds in (latin, utf8, latin, utf8)]
    names = [r.values["PatientName"]["Alphabetic"]["FamilyName"] for r in rows]
    assert names == ["MÃ¼ller", "Müller", "MÃ¼ller", "Müller"]
    for ds, row in zip((latin, utf8), rows, strict=False):
        assert parts(row) == parts(pydicom_row(encoded(ds)))


def test_the_memory_is_bounded_and_forgetting_changes_no_row(monkeypatch):
    monkeypatch.setattr(part10._Memory, "MAX_HELD", 4096)
    for index in range(60):
        ds = base(ImageComments=f"study {index:04d} " + "x" * 200, Modality="MR")
        ds.add_new(0x00091010, "LO", "CREATOR")
        ds.add_new(0x00091011, "LT", "note " * 40 + str(index))
        data = encoded(ds)
        assert parts(flatten_part10(data)) == parts(pydicom_row(data))
        memory = part10._MEMORIES["iso8859"]
        assert memory.held <= part10._Memory.MAX_HELD


def test_long_values_are_not_remembered():
    ds = base(ImageComments="y" * (part10._Memory.MAX_ELEMENT + 10))
    data = encoded(ds)
    flatten_part10(data)
    flatten_part10(data)
    memory = part10._MEMORIES["iso8859"]
    assert all(len(key) <= part10._Memory.MAX_ELEMENT for key in memory.effects)
    assert parts(flatten_part10(data)) == parts(pydicom_row(data))


def test_a_run_never_reaches_past_the_end_of_a_defined_length_item():
    # Remembered at the top: BodyPartExamined then PatientPosition. Then a file whose
    # defined-length item ends with that BodyPartExamined, PatientPosition following
    # the sequence: the bytes match, but the item ends first.
    def plain():  # a new SOPInstanceUID each: the run starts at BodyPartExamined
        return base(BodyPartExamined="CHEST", PatientPosition="HFS")

    item = Dataset()
    item.BodyPartExamined = "CHEST"
    item.is_undefined_length_sequence_item = False
    nested = base(PatientPosition="HFS", InterventionDrugInformationSequence=Sequence([item]))
    nested["InterventionDrugInformationSequence"].is_undefined_length = False
    data = encoded(nested)
    for ds in (plain(), plain(), nested, plain(), nested):
        row = flatten_part10(encoded(ds))
        assert row is not None and parts(row) == parts(pydicom_row(encoded(ds)))
    assert row.values["InterventionDrugInformationSequence"] == [{"BodyPartExamined": "CHEST"}]
    assert parts(flatten_part10(data)) == parts(cold(data))


def _element(tag: int, vr: str, value: bytes) -> bytes:
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def _part10(body: bytes) -> bytes:
    uids = [
        (0x00080016, b"1.2.840.10008.5.1.4.1.1.2\0"),
        (0x00080018, b"1.2.3.4\0"),
        (0x0020000D, b"1.2.3.1\0"),
        (0x0020000E, b"1.2.3.2\0"),
    ]
    meta = _element(0x00020010, "UI", b"1.2.840.10008.1.2.1\0")
    return b"\0" * 128 + b"DICM" + meta + b"".join(_element(t, "UI", u) for t, u in uids) + body


def test_an_item_tag_where_an_element_belongs_is_left_to_pydicom():
    # An item delimiter whose length bytes read "LO" passes for an element at the top.
    # In an undefined-length item the same bytes end the item: a run remembered at the
    # top with them must not carry the walk past that end. Such files are declined.
    private = _element(0x00291001, "LO", b"ab")
    delimiter = _element(0xFFFEE00D, "LO", struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
    sequence = struct.pack("<HH2sHL", 0x0040, 0x0275, b"SQ", 0, 0xFFFFFFFF)
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
    nested = _part10(sequence + item + private + delimiter + delimiter)
    assert flatten_part10(nested) is None
    for index in range(3):  # teach the run [private, delimiter] at the top
        top = _part10(_element(0x00211001, "LO", b"v%d" % index) + private + delimiter)
        assert flatten_part10(top) is None
    assert flatten_part10(nested) is None
    assert pydicom_row(nested).values["RequestAttributesSequence"] == [
        {"OtherElements": [{"Tag": "Tag_00291001", "Data": ["ab"]}]}
    ]
