"""Property tests (hypothesis) of the pure core: UIDs, resource names, filter files, flattening.

Examples are bounded (``max_examples`` at most 200, no deadline) so the module
runs well under 20 s; ``derandomize=True`` keeps every run on the same examples.
"""

from __future__ import annotations

import copy
import datetime as dt
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from dicomlab.core.filterfile import FilterFile
from dicomlab.core.resources import BigQueryDataset, BigQueryTable, GcsUri, HealthcareDicomStore
from dicomlab.core.uids import is_valid_uid, validate_uid
from dicomlab.errors import InvalidIdentifierError
from dicomlab.rows.flatten import flatten_dataset, flatten_json, flatten_part10

FAST = settings(max_examples=200, deadline=None, derandomize=True)
SLOW = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---- UIDs --------------------------------------------------------------------------------------

# PS3.5 §9.1, written independently of dicomlab.core.uids: components of ASCII digits separated by
# single dots, no component with a leading zero unless it is exactly "0", 64 characters at most.
_STRICT = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*", re.ASCII)
_LOOSE = re.compile(r"[0-9]+(?:\.[0-9]+)*", re.ASCII)  # leading zeros tolerated


def oracle(value: object, *, permissive: bool = False) -> bool:
    if not isinstance(value, str) or len(value) > 64:
        return False
    return (_LOOSE if permissive else _STRICT).fullmatch(value) is not None


component = st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,7}", fullmatch=True))
valid_uids = (
    st.lists(component, min_size=1, max_size=8).map(".".join).filter(lambda u: len(u) <= 64)
)
uid_candidates = st.one_of(
    valid_uids,
    st.text(alphabet="0123456789.", max_size=70),  # near misses: dots, zeros, lengths
    st.lists(st.sampled_from(["0", "1", "12"]), min_size=21, max_size=33).map(".".join),  # ~64
    valid_uids.map(lambda u: u + ".0" + u[-1]),  # a leading zero appended
    st.text(max_size=20),  # anything, Unicode digits and line breaks included
    st.sampled_from([None, 12, 1.2, b"1.2", ["1.2"]]),
)


@FAST
@given(uid_candidates)
@example("1.2\n")
@example("١.٢")  # Arabic-Indic digits: digits to Python, not to DICOM
@example("0")
@example("1." * 31 + "12")  # exactly 64
@example("1." * 32 + "1")  # 65
def test_uid_validator_agrees_with_the_standard(value):
    assert is_valid_uid(value) == oracle(value)
    assert is_valid_uid(value, permissive=True) == oracle(value, permissive=True)
    if oracle(value):
        assert validate_uid(value) == value
    else:
        with pytest.raises(InvalidIdentifierError) as info:
            validate_uid(value)
        assert repr(value) in str(info.value)


# ---- resource names ----------------------------------------------------------------------------

project_ids = st.from_regex(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", fullmatch=True)
domains = st.from_regex(r"[a-z][a-z0-9.-]{0,12}[a-z0-9]:", fullmatch=True)
bq_projects = st.one_of(project_ids, st.tuples(domains, project_ids).map("".join))
bq_datasets = st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True)
bq_tables = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,40}", fullmatch=True)
locations = st.one_of(
    st.sampled_from(["us", "us-central1", "europe-west4", "northamerica-northeast1"]),
    st.from_regex(r"[a-z]{2,10}(-[a-z]{2,10}[0-9])?", fullmatch=True),
)
# Healthcare dataset and store IDs: [\p{L}\p{N}_\-.]{1,256} (Cloud Healthcare API reference).
# Dot-only IDs (a URL dot-segment) and a store named "dicomWeb" are tested apart, below.
hc_ids = st.text(
    alphabet=st.one_of(
        st.sampled_from("abcXYZ0189_-."),
        st.characters(categories=["L", "Nd"]),
    ),
    min_size=1,
    max_size=40,
).filter(lambda s: set(s) != {"."} and s != "dicomWeb")
# Cloud Storage's rules: no "..", not an IP address, no "goog" prefix, no "google".
buckets = st.from_regex(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]", fullmatch=True).filter(
    lambda b: (
        ".." not in b
        and not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", b)
        and not b.startswith("goog")
        and "google" not in b
        and "g00gle" not in b
    )
)
object_names = st.text(
    st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]), max_size=80
)


@FAST
@given(project_ids, locations, hc_ids, hc_ids)
def test_healthcare_store_round_trips(project, location, dataset, store):
    name = HealthcareDicomStore(project, location, dataset, store)
    assert HealthcareDicomStore.parse(str(name)) == name
    assert HealthcareDicomStore.parse(name.dicomweb_url()) == name
    assert HealthcareDicomStore.parse(name.dicomweb_url("v1beta1") + "/") == name


def test_store_named_dicomweb_round_trips():
    name = HealthcareDicomStore("my-project", "us", "d", "dicomWeb")
    assert HealthcareDicomStore.parse(str(name)) == name


@FAST
@given(bq_projects, bq_datasets, bq_tables)
def test_bigquery_names_round_trip(project, dataset, table):
    parsed = BigQueryTable(project, dataset, table)
    assert BigQueryTable.parse(str(parsed)) == parsed
    assert BigQueryDataset.parse(str(parsed.dataset)) == parsed.dataset
    assert parsed.dataset.table(table) == parsed
    assert str(parsed) == f"bq://{parsed.sql_name}"


@FAST
@given(buckets, object_names)
def test_gcs_uri_round_trips(bucket, name):
    uri = GcsUri(bucket, name)
    assert GcsUri.parse(str(uri)) == uri
    assert str(uri).startswith(f"gs://{bucket}")


# ---- filter files ------------------------------------------------------------------------------

# Small pools, so that duplicates and overlaps (a study line and its series) are common.
studies = st.sampled_from(["1.2", "1.3", "1.20", "2.0.1"])
series_uids = st.sampled_from(["1.2.1", "1.2.10", "1.3.1", "9"])
instance_uids = st.sampled_from(["1.2.1.1", "1.2.1.10", "5.5", "0"])
uid_rows = st.lists(
    st.one_of(
        st.tuples(studies),
        st.tuples(studies, series_uids),
        st.tuples(studies, series_uids, instance_uids),
    ),
    min_size=0,
    max_size=25,
)


def path_of(row: tuple[str, ...]) -> str:
    parts = zip(("studies", "series", "instances"), row, strict=False)
    return "".join(f"/{segment}/{uid}" for segment, uid in parts)


def as_row(line: str) -> tuple[str, ...]:
    return tuple(line.split("/")[2::2])


def frame(rows: list[tuple[str, ...]]) -> pd.DataFrame:
    padded = [(*row, None, None)[:3] for row in rows]
    columns = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
    return pd.DataFrame(padded, columns=columns, dtype=object)


@FAST
@given(uid_rows)
def test_filter_text_round_trips(rows):
    ff = FilterFile.from_uids(rows)
    assert FilterFile.parse(ff.to_text()) == ff
    assert FilterFile.parse(ff.to_text().replace("\n", "\r\n")) == ff
    assert FilterFile(ff.lines) == ff


@FAST
@given(uid_rows)
def test_collapsed_is_a_fixed_point(rows):
    ff = FilterFile.from_uids(rows)
    assert FilterFile.from_uids([as_row(line) for line in ff.lines]) == ff
    assert len(set(ff.lines)) == len(ff.lines)


@FAST
@given(uid_rows)
def test_no_line_covers_another(rows):
    lines = FilterFile.from_uids(rows).lines
    for broad in lines:
        for fine in lines:
            assert not fine.startswith(broad + "/"), (broad, fine)


@FAST
@given(uid_rows)
def test_lines_cover_exactly_the_rows(rows):
    lines = set(FilterFile.from_uids(rows).lines)
    paths = {path_of(row) for row in rows}
    assert lines <= paths  # no line is invented
    for path in paths:  # every row is named, by itself or by a broader line
        assert path in lines or any(path.startswith(line + "/") for line in lines)


@FAST
@given(uid_rows, st.randoms(use_true_random=False))
def test_dataframe_order_and_duplicates_do_not_change_the_lines(rows, rng):
    df = frame(rows)
    ff = FilterFile.from_dataframe(df)
    assert FilterFile.from_dataframe(df) == ff  # twice: the same
    assert FilterFile.from_dataframe(pd.concat([df, df], ignore_index=True)) == ff
    shuffled = df.sample(frac=1, random_state=rng.randrange(2**32)) if len(df) else df
    assert set(FilterFile.from_dataframe(shuffled).lines) == set(ff.lines)
    assert FilterFile.from_dataframe(df) == FilterFile.from_uids(rows)


# ---- flattening --------------------------------------------------------------------------------

_NAME_PART = st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True)
_TEXT = st.from_regex(r"[A-Za-z0-9 ._-]{0,20}[A-Za-z0-9]", fullmatch=True)


def _tm(t: dt.time, digits: int) -> str:
    text = t.strftime("%H%M%S")
    return text + "." + f"{t.microsecond:06d}"[:digits] if digits else text


def _ds(x: float) -> str:
    return format(x, ".6g")


# keyword → strategy of a valid value for its VR (VM as the dictionary says)
VALUES: dict[str, st.SearchStrategy[object]] = {
    "PatientName": st.lists(_NAME_PART, min_size=1, max_size=5).map("^".join),  # PN
    "ReferringPhysicianName": st.lists(_NAME_PART, min_size=1, max_size=3).map("^".join),
    "StudyDate": st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)).map(  # DA
        lambda d: d.strftime("%Y%m%d")
    ),
    "StudyTime": st.builds(_tm, st.times(), st.integers(0, 6)),  # TM
    "SeriesTime": st.times().map(lambda t: t.strftime("%H%M")),
    "SliceThickness": st.floats(-1e6, 1e6, allow_nan=False).map(_ds),  # DS
    "PixelSpacing": st.lists(st.floats(0.01, 10).map(_ds), min_size=2, max_size=2),
    "InstanceNumber": st.integers(-(2**31), 2**31 - 1).map(str),  # IS
    "PatientID": _TEXT,  # LO
    "Manufacturer": _TEXT,
    "Modality": st.sampled_from(["CT", "MR", "CR", "US", "OT"]),  # CS
    "ImageType": st.lists(
        st.sampled_from(["ORIGINAL", "DERIVED", "PRIMARY", "AXIAL"]), min_size=2, max_size=4
    ),
    "StudyInstanceUID": valid_uids,  # UI
    "SOPInstanceUID": valid_uids,
    "Rows": st.integers(0, 65535),  # US
    "Columns": st.integers(0, 65535),
    "DiffusionBValue": st.floats(allow_nan=False, allow_infinity=False),  # FD
    "RealWorldValueSlope": st.floats(-1e9, 1e9),
}
CODE_ITEM = {
    "CodeValue": st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True),
    "CodingSchemeDesignator": st.sampled_from(["DCM", "SCT", "99LOCAL"]),
    "CodeMeaning": _TEXT,
}


def datasets_of(fields: dict[str, st.SearchStrategy[object]]) -> st.SearchStrategy[Dataset]:
    """Datasets holding any subset of ``fields``."""

    def build(values: dict[str, object]) -> Dataset:
        ds = Dataset()
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        return ds

    return st.fixed_dictionaries({}, optional=fields).map(build)


def with_sequence(keyword: str, items: st.SearchStrategy[Dataset]) -> st.SearchStrategy[Dataset]:
    def attach(pair: tuple[Dataset, list[Dataset]]) -> Dataset:
        ds, children = pair
        setattr(ds, keyword, children)
        return ds

    return st.tuples(datasets_of(CODE_ITEM), st.lists(items, max_size=3)).map(attach)


# SQ: items with codes, nested one more level (AnatomicRegionModifierSequence in each item)
code_items = datasets_of(CODE_ITEM)
nested_items = st.one_of(code_items, with_sequence("AnatomicRegionModifierSequence", code_items))


def with_sequences(ds: Dataset, region: list[Dataset], procedure: list[Dataset]) -> Dataset:
    if region:
        ds.AnatomicRegionSequence = region
    if procedure:
        ds.ProcedureCodeSequence = procedure
    return ds


instances = st.builds(
    with_sequences,
    datasets_of(VALUES),
    st.lists(nested_items, max_size=3),
    st.lists(code_items, max_size=2),
)


def _exportable(item: Dataset) -> bool:
    """Whether a sequence item holds an element that is not an empty sequence."""
    return any(e.VR != "SQ" or any(_exportable(i) for i in e.value) for e in item)


@SLOW
@given(instances)
def test_flattening_valid_datasets_is_total_and_deterministic(ds):
    first = flatten_dataset(ds)
    again = flatten_dataset(ds)
    other = flatten_dataset(copy.deepcopy(ds))
    assert first.values == again.values == other.values
    assert first.columns == again.columns == other.columns
    # Every value is valid for its VR: nothing is unparsed, nothing lands in OtherElements.
    assert first.unparsed == []
    assert "OtherElements" not in first.values
    for keyword in ds.dir():
        # A sequence with nothing to export in any item has no column (no empty RECORD).
        present = ds[keyword].VR != "SQ" or any(_exportable(item) for item in ds[keyword].value)
        assert (keyword in first.values and keyword in first.columns) == present
    # The same row from the instance's DICOM JSON (the WADO-RS metadata form).
    assert flatten_json(ds.to_json_dict()).values == first.values


# Values that break their VR, so that rows from files also carry OtherElements.
BAD_VALUES: dict[str, st.SearchStrategy[object]] = {
    "StudyDate": st.sampled_from(["20011345", "2001", "yesterday"]),
    "SliceThickness": st.sampled_from(["1,5", "thick", "1.5.2"]),
    "SeriesNumber": st.sampled_from(["1.5", "one", "3 4"]),
    "ContentTime": st.sampled_from(["256060", "noon"]),
}


def _part10(ds: Dataset, charset: str, undefined_lengths: bool) -> bytes:
    """``ds`` as an Explicit VR Little Endian Part 10 file, with the UIDs it needs."""
    import io

    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = copy.deepcopy(ds)
    ds.SpecificCharacterSet = charset
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        if keyword not in ds:
            setattr(ds, keyword, "1.2.3.4")
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.add_new(0x00091010, "LO", "ACME")  # a private creator and a private element
    ds.add_new(0x00091001, "DS", "1.50")
    for keyword in ("AnatomicRegionSequence", "ProcedureCodeSequence"):
        if keyword in ds:
            ds[keyword].is_undefined_length = undefined_lengths
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@SLOW
@given(
    instances,
    st.fixed_dictionaries({}, optional=BAD_VALUES),
    st.sampled_from(["ISO_IR 100", "ISO_IR 192", ""]),
    st.booleans(),
)
def test_fast_path_from_bytes_equals_pydicoms_read(ds, bad, charset, undefined_lengths):
    """The export's fast path (bytes → row) agrees with dcmread + flatten_dataset."""
    import io

    import pydicom
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    for keyword, value in bad.items():  # as raw bytes: pydicom refuses to set them
        tag = Tag(tag_for_keyword(keyword))
        raw = value.encode() + b" " * (len(value) % 2)
        ds[tag] = RawDataElement(tag, dictionary_VR(tag), len(raw), raw, 0, False, True)
    data = _part10(ds, charset, undefined_lengths)
    fast = flatten_part10(data)
    slow = flatten_dataset(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True))
    assert fast is not None
    assert fast.values == slow.values
    assert fast.columns == slow.columns
    assert fast.skipped == slow.skipped
    assert (fast.unparsed, fast.dropped) == (slow.unparsed, slow.dropped)
    assert sorted(fast.unparsed) == sorted(bad)


@SLOW
@given(st.data())
def test_fast_path_on_damaged_bytes_agrees_with_pydicom_or_declines(data):
    """A damaged file: the fast path declines or gives the row pydicom reads; never another."""
    import io
    import warnings

    import pydicom
    from pydicom.data import get_testdata_file

    with open(get_testdata_file("CT_small.dcm"), "rb") as handle:
        original = bytearray(handle.read(3000))
    for _ in range(data.draw(st.integers(1, 3))):
        original[data.draw(st.integers(128, len(original) - 1))] = data.draw(st.integers(0, 255))
    damaged = bytes(original)
    fast = flatten_part10(damaged)
    if fast is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slow = flatten_dataset(pydicom.dcmread(io.BytesIO(damaged), stop_before_pixels=True))
    assert fast.values == slow.values
    assert fast.columns == slow.columns
    assert fast.skipped == slow.skipped
    assert (fast.unparsed, fast.dropped) == (slow.unparsed, slow.dropped)
