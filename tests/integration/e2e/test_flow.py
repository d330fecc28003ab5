"""The researcher's flow on the embedded default, end to end, on the real sample cohort."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest

import dicomlab
from dicomlab.errors import AlreadyExistsError, InvalidIdentifierError, QueryError

PATIENT = "77654033"


def test_connect_seeds_the_sample_store(home):
    lab = dicomlab.connect(home=home)
    files = [p for p in (home / "store").rglob("*") if p.is_file()]
    assert len(files) == 81
    assert lab.warehouse.url.endswith("warehouse.duckdb")
    assert "store" in repr(lab) and "not exported yet" in lab._repr_html_()


def test_export_counts_and_types(exported_lab, sample_files):
    wh = exported_lab.warehouse
    assert wh.count_rows("dicom_metadata") == len(sample_files) == 81
    with wh.connection() as con:
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'dicom_metadata'"
            ).fetchall()
        )
        patients = con.execute(
            "SELECT COUNT(DISTINCT PatientID), COUNT(DISTINCT StudyInstanceUID) FROM dicom_metadata"
        ).fetchone()
    assert patients == (3, 7)
    assert types["StudyDate"] == "DATE" and types["StudyTime"] == "TIME"
    assert types["SliceThickness"] == "VARCHAR" and types["InstanceNumber"] == "VARCHAR"
    assert types["Rows"] == "BIGINT" and types["ImageType"] == "VARCHAR[]"
    assert types["PatientName"].startswith("STRUCT(Alphabetic STRUCT(FamilyName VARCHAR")


def test_export_values_match_the_files(exported_lab, sample_files):
    ds = pydicom.dcmread(sample_files[0], stop_before_pixels=True)
    with exported_lab.warehouse.connection() as con:
        row = con.execute(
            "SELECT PatientID, StudyDate, Modality, PatientName.Alphabetic.FamilyName "
            "FROM dicom_metadata WHERE SOPInstanceUID = $uid",
            {"uid": ds.SOPInstanceUID},
        ).fetchone()
    assert row[0] == ds.PatientID and row[2] == ds.Modality
    assert row[1] == dt.datetime.strptime(ds.StudyDate, "%Y%m%d").date()
    assert row[3] == ds.PatientName.family_name


def test_worklist_newest_first_and_complete(exported_lab):
    worklist = exported_lab.query("latest_studies", limit=20)
    assert list(worklist.columns[:4]) == [
        "StudyDateTime",
        "PatientID",
        "StudyInstanceUID",
        "InstanceCount",
    ]
    assert len(worklist) == 7
    assert int(worklist["InstanceCount"].sum()) == 81
    stamps = list(worklist["StudyDateTime"])
    assert stamps == sorted(stamps, reverse=True)
    for stamp in stamps:
        dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")  # BigQuery's print form
    assert len(exported_lab.query("latest_studies", limit=3)) == 3


def test_patient_lookup_only_that_patient(exported_lab):
    hits = exported_lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    with exported_lab.warehouse.connection() as con:
        expected = {
            r[0]
            for r in con.execute(
                "SELECT SOPInstanceUID FROM dicom_metadata WHERE PatientID = $p", {"p": PATIENT}
            ).fetchall()
        }
    assert len(hits) == len(expected) == 7
    assert set(hits["SOPInstanceUID"]) == expected
    for path, study, series, sop in hits[
        ["DICOMwebPath", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
    ].itertuples(index=False):
        assert path == f"/dicomWeb/studies/{study}/series/{series}/instances/{sop}"


@pytest.mark.parametrize(
    "evil", ["' OR '1'='1", "77654033' --", "x'; DROP TABLE dicom_metadata; --"]
)
def test_injection_strings_are_just_values(exported_lab, evil):
    assert exported_lab.query("patient_dicomweb_paths", patient_id=evil).empty
    assert exported_lab.warehouse.count_rows("dicom_metadata") == 81


def test_query_errors_list_what_the_query_takes(exported_lab):
    with pytest.raises(QueryError) as info:
        exported_lab.query("patient_dicomweb_paths")
    assert "patient_id" in str(info.value)
    with pytest.raises(QueryError) as info:
        exported_lab.query("latest_studies", limit=5, colour="red")
    assert "colour" in str(info.value) and "limit" in str(info.value)
    with pytest.raises(QueryError) as info:
        exported_lab.query("no_such_query")
    assert "latest_studies" in str(info.value)
    with pytest.raises(InvalidIdentifierError):
        exported_lab.query("../../etc/passwd")


def test_adhoc_sql_with_parameters(exported_lab):
    df = exported_lab.sql("SELECT COUNT(*) AS n FROM dicom_metadata WHERE Modality = @m", m="MR")
    assert int(df["n"].iloc[0]) == 17


def test_write_dispositions(home):
    lab = dicomlab.connect(home=home)
    assert lab.export_metadata(progress=False).success == 81
    with pytest.raises(AlreadyExistsError, match="WRITE_TRUNCATE"):
        lab.export_metadata(progress=False)
    assert lab.warehouse.count_rows("dicom_metadata") == 81  # nothing lost
    lab.export_metadata(write_disposition="WRITE_APPEND", progress=False)
    assert lab.warehouse.count_rows("dicom_metadata") == 162
    lab.export_metadata(write_disposition="WRITE_TRUNCATE", progress=False)
    assert lab.warehouse.count_rows("dicom_metadata") == 81
    with pytest.raises(InvalidIdentifierError, match="WRITE_SOMETIMES"):
        lab.export_metadata(write_disposition="WRITE_SOMETIMES", progress=False)
    with pytest.raises(InvalidIdentifierError, match="bad-name"):
        lab.export_metadata(table="bad-name", progress=False)
    lab.export_metadata(table="other", progress=False)
    assert lab.table == "other" and len(lab.query("latest_studies", limit=20)) == 7


def test_unreadable_files_are_reported_not_fatal(tmp_path, sample_files):
    store = tmp_path / "store"
    store.mkdir()
    for path in sample_files[:3]:
        (store / path.name).write_bytes(path.read_bytes())
    (store / "notes.txt").write_text("not DICOM")
    (store / "truncated.dcm").write_bytes(sample_files[3].read_bytes()[:200])
    (store / "empty.dcm").write_bytes(b"")
    lab = dicomlab.connect(store=store, home=tmp_path / "home")
    result = lab.export_metadata(progress=False)
    assert result.success == 3
    assert sorted(src for src, _ in result.failures) == ["empty.dcm", "notes.txt", "truncated.dcm"]
    assert all("DICOM" in why for _, why in result.failures)
    assert "3 not exported" in result._repr_html_()


def test_upload_never_overwrites_unless_asked(exported_lab):
    hits = exported_lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    cohort = dicomlab.FilterFile.from_dataframe(hits, level="series")
    assert cohort.level == "series" and len(cohort) == hits["SeriesInstanceUID"].nunique() == 4
    uri = exported_lab.upload(cohort, "cohorts/test-upload.txt")
    assert uri.startswith("file://") and uri.endswith("cohorts/test-upload.txt")
    other = dicomlab.FilterFile.from_dataframe(hits, level="study")
    with pytest.raises(AlreadyExistsError, match="overwrite=True"):
        exported_lab.upload(other, "cohorts/test-upload.txt")
    stored = exported_lab.bucket.download_bytes("cohorts/test-upload.txt").decode()
    assert dicomlab.FilterFile.parse(stored) == cohort  # nothing lost
    exported_lab.upload(other, "cohorts/test-upload.txt", overwrite=True)
    assert exported_lab.bucket.download_bytes("cohorts/test-upload.txt") == other.to_bytes()
    assert exported_lab.upload(cohort).endswith(cohort.content_name())


def test_images_of_hits_are_real(exported_lab):
    from io import BytesIO

    import numpy as np
    from PIL import Image

    hits = exported_lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    grid = exported_lab.images(hits, size=64, progress=False)
    assert len(grid.tiles) == 7
    for tile in grid.tiles:
        assert tile.error is None and tile.image is not None
        pixels = np.asarray(Image.open(BytesIO(tile.image)))
        assert pixels.shape[:2] == (64, 64) and pixels.std() > 0
        assert PATIENT in tile.caption
    assert grid.to_html().count("<img") == 7


def test_images_of_studies_pick_a_representative(exported_lab):
    worklist = exported_lab.query("latest_studies", limit=20)
    grid = exported_lab.images(worklist, size=32, progress=False)
    assert len(grid.tiles) == 7
    failed = [t for t in grid.tiles if t.image is None]
    # The TINY_ALPHA study's instances carry no pixel data: one clear failure tile.
    assert len(failed) == 1 and "12345678" in failed[0].caption and failed[0].error


def test_sixteen_bit_mr_renders(exported_lab):
    from io import BytesIO

    import numpy as np
    from PIL import Image

    series = exported_lab.sql(
        "SELECT StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID FROM dicom_metadata "
        "WHERE Modality = 'MR' AND BitsAllocated = 16 ORDER BY SOPInstanceUID"
    )
    assert len(series) == 17
    grid = exported_lab.images(series, size=32, progress=False)
    for tile in grid.tiles:
        assert len(np.unique(np.asarray(Image.open(BytesIO(tile.image))))) > 2


def test_bad_values_are_kept_not_warned(tmp_path, sample_files, recwarn):
    store = tmp_path / "store"
    store.mkdir()
    ds = pydicom.dcmread(sample_files[0])
    ds.SliceThickness = "7.123456"
    ds.save_as(store / "ok.dcm")
    data = (store / "ok.dcm").read_bytes()
    (store / "ok.dcm").write_bytes(data.replace(b"7.123456", b"abc.defg"))
    recwarn.clear()
    lab = dicomlab.connect(store=store, home=tmp_path / "home")
    assert lab.export_metadata(progress=False).success == 1
    assert not [w for w in recwarn if "Invalid value" in str(w.message)]
    found = lab.sql(
        "SELECT o.Data FROM dicom_metadata, UNNEST(OtherElements) AS o WHERE o.Tag = 'Tag_00180050'"
    )
    assert list(found.Data[0]) == ["abc.defg"]  # kept whole, outside the typed column


def test_streaming_columns_make_current_state_work(home):
    lab = dicomlab.connect(home=home)
    result = lab.export_metadata(streaming_columns=True, workers=1, progress=False)
    with lab.warehouse.connection() as con:
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'dicom_metadata'"
            ).fetchall()
        )
        distinct = con.execute("SELECT DISTINCT Type FROM dicom_metadata").fetchall()
    assert types["Type"] == "VARCHAR" and types["LastUpdated"] == "TIMESTAMP WITH TIME ZONE"
    assert distinct == [("CREATE",)] and result.columns == len(types)
    assert len(lab.query("current_state")) == 81


def test_canned_queries_read_the_current_state_of_a_streamed_table(home):
    lab = dicomlab.connect(home=home)
    lab.export_metadata(streaming_columns=True, workers=1, progress=False)
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    gone = hits.SOPInstanceUID.iloc[0]
    with lab.warehouse.connection() as con:
        # A later row marks one instance deleted, as streaming does.
        con.execute(
            "INSERT INTO dicom_metadata (SOPInstanceUID, StudyInstanceUID, PatientID, Type, "
            "LastUpdated) SELECT SOPInstanceUID, StudyInstanceUID, PatientID, 'DELETE', "
            "LastUpdated + INTERVAL 1 HOUR FROM dicom_metadata WHERE SOPInstanceUID = $uid",
            {"uid": gone},
        )
    every_row = lab.query("patient_dicomweb_paths", patient_id="77654033")
    current = lab.query("patient_dicomweb_paths", patient_id="77654033", source="current_state")
    assert len(every_row) == len(hits) + 1
    assert set(current.SOPInstanceUID) == set(hits.SOPInstanceUID) - {gone}
    studies = lab.query("latest_studies", limit=20, source="current_state")
    assert studies.InstanceCount.sum() == 80
    assert current.attrs["dicomlab.query"]["source"] == "current_state"
    with pytest.raises(QueryError, match="another canned query"):
        lab.query("current_state", source="current_state")


def test_images_page_through_hits_and_open_a_series(exported_lab):
    import ipywidgets

    hits = exported_lab.query("patient_dicomweb_paths", patient_id="98890234")
    grid = exported_lab.images(hits, limit=10, size=32, progress=False)
    assert grid.page_count == -(-len(hits) // 10) and len(grid.tiles) == 10
    grid.show_page(grid.page_count - 1)
    assert len(grid.tiles) == len(hits) - 10 * (grid.page_count - 1)
    assert grid.tiles[-1].uids[2] == hits.SOPInstanceUID.iloc[-1]
    grid.open(grid.tiles[0])
    (viewer,) = grid.widget.children[-1].children
    assert isinstance(viewer, ipywidgets.VBox)
    series = exported_lab.view_series(*grid.tiles[0].uids[:2], start=grid.tiles[0].uids[2])
    assert series.current_ref.instance == grid.tiles[0].uids[2]


def test_described_rows_need_no_search(exported_lab, monkeypatch):
    table = exported_lab.sql(
        "SELECT StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, PatientID, StudyDate, "
        "Modality, SeriesDescription, Rows FROM dicom_metadata ORDER BY SOPInstanceUID"
    )

    def no_search(*args, **kwargs):
        raise AssertionError("rows that carry captions and Rows must not be searched for")

    monkeypatch.setattr(exported_lab.store, "search_instances", no_search)
    grid = exported_lab.images(table, limit=len(table), size=32, progress=False, viewer=False)
    assert [t.uids[2] for t in grid.tiles] == list(table.SOPInstanceUID)
    without = table.Rows.isna()
    assert [t.image is None for t in grid.tiles] == list(without)
    assert without.sum() == 50  # the sample's instances without pixel data
    assert all("no pixel data" in t.error for t, w in zip(grid.tiles, without, strict=True) if w)
    mine = [t for t, p in zip(grid.tiles, table.PatientID, strict=True) if p == "98890234"]
    assert mine and all(t.caption.startswith("98890234 · ") for t in mine)
