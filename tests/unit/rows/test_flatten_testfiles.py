"""Every DICOM file pydicom ships, flattened: never a crash, types by the VR table,
and the same row from the file as from its DICOM JSON."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import DicomDictionary, RepeatersDictionary
from pydicom.errors import InvalidDicomError

from dicomlab.rows.flatten import flatten_dataset, flatten_json, flatten_part10
from dicomlab.rows.schema import DROPPED_TAGS, OTHER_ELEMENTS, PN_FIELDS, VR_TYPES, Column

# keyword → (VR, VM, repeating group?) from pydicom's dictionaries, repeaters included
DICTIONARY = {entry[4]: (entry[0], entry[1], False) for entry in DicomDictionary.values()}
DICTIONARY.update(
    {
        entry[4]: (entry[0], entry[1], mask[:2] in ("50", "60"))
        for mask, entry in RepeatersDictionary.items()
    }
)
TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
ALL_FILES = sorted(p for p in TEST_FILES.rglob("*") if p.is_file())


def read(path: Path) -> pydicom.Dataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError):
            return None


@pytest.fixture(scope="module")
def datasets() -> dict[Path, pydicom.Dataset]:
    found = {path: read(path) for path in ALL_FILES}
    return {path: ds for path, ds in found.items() if ds is not None}


def test_the_shipped_files_are_there(datasets):
    assert len(ALL_FILES) > 150 and len(datasets) > 140
    assert any("dicomdirtests" in str(p) for p in datasets)


def check_column(column: Column, path: str) -> None:
    """Type and mode of one column, recursively, against the DICOM dictionary."""
    where = f"{path}.{column.name}"
    if column in (OTHER_ELEMENTS, DROPPED_TAGS):
        return
    if column.name.startswith("Tag_"):
        assert column.type == "RECORD" and column.mode == "REPEATED", where  # private sequence
        for field in column.fields:
            check_column(field, where)
        return
    assert column.name in DICTIONARY, where
    vr, vm, repeating_group = DICTIONARY[column.name]
    vr = vr.split(" or ")[0]
    repeated = vm != "1"
    if repeating_group:  # {Id, Value} records
        assert column.type == "RECORD" and column.mode == "REPEATED", where
        assert column.fields[0] == Column("Id", "STRING"), where
        value = column.fields[1]
        assert value.type == VR_TYPES[vr] and value.repeated == repeated, where
        return
    assert column.type == VR_TYPES[vr], where
    if vr == "SQ":
        assert column.mode == "REPEATED", where
        assert column.fields, where  # BigQuery has no RECORD without fields
        for field in column.fields:
            check_column(field, where)
        return
    assert column.repeated == repeated, where
    assert "OW" not in DICTIONARY[column.name][0].split(" or "), where  # LUTData: binary
    if vr == "PN":
        assert column.fields == PN_FIELDS, where


def test_no_file_crashes_and_every_column_matches_the_vr_table(datasets):
    checked = 0
    for path, ds in datasets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = flatten_dataset(ds)
        assert set(row.values) == set(row.columns), path.name
        for column in row.columns.values():
            check_column(column, path.name)
            checked += 1
    assert checked > 5000


def test_row_from_file_equals_row_from_its_dicom_json(datasets):
    compared = 0
    for path, ds in datasets.items():
        if "SOPInstanceUID" not in ds:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # A fresh read: its elements are still raw bytes, as in an export. (to_json_dict
            # converts them in place through pydicom, which is what the JSON side checks against.)
            fresh = read(path)
            assert fresh is not None
            from_file = flatten_dataset(fresh)
            meta = fresh.file_meta.to_json_dict() if getattr(fresh, "file_meta", None) else {}
            try:
                obj = {**meta, **fresh.to_json_dict()}
            except ValueError:
                continue  # pydicom cannot write this file's JSON (badVR.dcm: IS "1A")
            from_json = flatten_json(obj)
        assert from_json.columns == from_file.columns, path.name
        assert from_json.values == from_file.values, path.name
        compared += 1
    assert compared > 100


def test_all_rows_load_into_duckdb_and_bigquery_schemas_agree(datasets):
    import duckdb
    from google.cloud.bigquery import SchemaField

    from dicomlab.rows.arrow import to_arrow_table
    from dicomlab.rows.bqschema import to_schema_fields
    from dicomlab.rows.schema import conform, duckdb_type, merge_columns

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [flatten_dataset(ds) for ds in datasets.values() if "SOPInstanceUID" in ds]
    columns = merge_columns(r.columns for r in rows)
    values = [
        {n: conform(r.values.get(n), r.columns.get(n), c) for n, c in columns.items()} for r in rows
    ]
    table = to_arrow_table(values, columns)
    con = duckdb.connect()
    con.register("staged", table)
    con.execute("CREATE TABLE t AS SELECT * FROM staged")
    described = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't'"
        ).fetchall()
    )
    for name, column in columns.items():
        assert described[name].replace('"', "") == duckdb_type(column).replace('"', ""), name
    assert con.execute("SELECT COUNT(*) FROM t").fetchone()[0] == len(rows)
    fields = to_schema_fields(columns)
    assert [f.name for f in fields] == list(columns)
    by_name = {f.name: f for f in fields}
    assert by_name["PatientName"].field_type == "RECORD"
    assert [f.name for f in by_name["PatientName"].fields] == [
        "Alphabetic",
        "Ideographic",
        "Phonetic",
    ]
    assert by_name["OtherElements"] == SchemaField(
        "OtherElements",
        "RECORD",
        mode="REPEATED",
        fields=[SchemaField("Tag", "STRING"), SchemaField("Data", "STRING", mode="REPEATED")],
    )


def _parts(row):
    return row.values, row.columns, row.skipped, row.unparsed, row.dropped


def test_fast_path_gives_pydicoms_row_or_declines():
    """``flatten_part10`` on every shipped file: the very row of the pydicom path, or ``None``."""
    from dicomlab.export.chunks import _flatten_file

    fast = declined = 0
    for path in ALL_FILES:
        row = flatten_part10(path.read_bytes())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read(path)
        if row is None:
            declined += 1
            continue
        assert ds is not None, path.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slow = flatten_dataset(ds)
        assert _parts(row) == _parts(slow), path.name
        # What the export's reader gives for the file: the same row.
        assert _parts(_flatten_file(str(path), path.name)) == _parts(slow), path.name
        fast += 1
    # Most shipped files are explicit VR little endian; the rest are implicit VR, big
    # endian, deflated, several character sets, or deliberately broken.
    assert fast > 80 and declined > 20, (fast, declined)


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm"],
)
def test_fast_path_declines_what_it_does_not_read(name):
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file(name)).read_bytes()
    row = flatten_part10(data)
    assert (row is not None) == (name == "CT_small.dcm")
    # A file cut anywhere is declined (pydicom then says it is truncated), never misread.
    cut_rows = [flatten_part10(data[:cut]) for cut in range(132, len(data), 97)]
    if row is None:
        assert cut_rows == [None] * len(cut_rows)
    else:  # whole only once the cut is past the start of the pixel data
        assert all(r is None or _parts(r) == _parts(row) for r in cut_rows)
        assert any(r is None for r in cut_rows) and any(r is not None for r in cut_rows)
