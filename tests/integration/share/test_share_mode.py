"""Share mode on a real Lab (folder store, DuckDB, local bucket): out de-identified, back real."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import stat
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import dicomlab
from dicomlab.audit import shown_dates, table_identifiers
from dicomlab.core.deid import token_pattern
from dicomlab.errors import DicomlabError, InvalidRequestError, SkippedFilesWarning
from dicomlab.share import ShareMode
from dicomlab.share.files import write_private
from dicomlab.stores.base import InstanceRef

PATIENT = "77654033"


@pytest.fixture(scope="module")
def real(home: Path) -> pd.DataFrame:
    frame: pd.DataFrame = dicomlab.connect(home=home, share=False).sql(
        "SELECT * FROM dicom_metadata"
    )
    return frame


@pytest.fixture()
def lab(home: Path) -> Any:
    return dicomlab.connect(home=home, share=True)


def _leaks(text: str, real: pd.DataFrame, lab: Any) -> set[str]:
    """The real identifiers in ``text``, but for dates this lab also shows moved from others."""
    rows = real.to_dict("records")
    return _found(text, table_identifiers(rows) - shown_dates(rows, lab._share.pseudo))


def _found(text: str, identifiers: Iterable[str]) -> set[str]:
    """Which of ``identifiers`` ``text`` holds as a whole token, as the audit looks for them.

    An ID's digits inside a 39-digit pseudonym UID, or inside a DICOM JSON tag key
    ("080020" in "00080020"), are no leak, and random values make them by chance.
    """
    pattern = token_pattern(identifiers)
    return set(pattern.findall(text)) if pattern is not None else set()


def test_the_environment_turns_it_on_and_the_lab_says_so(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DICOMLAB_SHARE", "1")
    lab = dicomlab.connect(home=home)
    assert lab.share is True and "share=True" in repr(lab)
    assert "share mode" in lab._repr_html_()
    monkeypatch.setenv("DICOMLAB_SHARE", "images")
    assert dicomlab.connect(home=home).share == "images"
    monkeypatch.setenv("DICOMLAB_SHARE", "0")
    assert dicomlab.connect(home=home).share is False
    monkeypatch.setenv("DICOMLAB_SHARE", "maybe")
    with pytest.raises(DicomlabError, match="'maybe'"):
        dicomlab.connect(home=home)


def test_the_key_and_the_map_are_private(lab: Any, home: Path) -> None:
    lab.query("latest_studies", limit=5)
    for name in ("key", "reverse.json"):
        assert stat.S_IMODE((home / "share" / name).stat().st_mode) == 0o600
    key = (home / "share" / "key").read_bytes()
    assert len(key) == 32 and key.hex() not in repr(lab._share) + repr(lab)


def test_results_show_no_identifier(lab: Any, real: pd.DataFrame) -> None:
    hits = lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    everything = lab.sql("SELECT * FROM dicom_metadata")
    studies = lab.store.search_studies()
    for frame in (hits, everything, studies):
        assert not _leaks(frame.to_string() + frame.to_html() + repr(frame), real, lab)
    assert len(hits) == (real.PatientID == PATIENT).sum()
    assert everything.SeriesDescription.isna().all()  # free text removed


def test_dates_keep_their_intervals(lab: Any, real: pd.DataFrame) -> None:
    shown = lab.sql("SELECT PatientID, StudyDate, SOPInstanceUID FROM dicom_metadata")
    truth = real.set_index(real.SOPInstanceUID.map(lab._share.pseudo.uid))
    truth = truth[["StudyDate", "PatientID"]].add_suffix("_real")
    merged = shown.join(truth, on="SOPInstanceUID")
    merged = merged.dropna(subset=["StudyDate"])
    for _, group in merged.groupby("PatientID_real"):
        moved = pd.to_datetime(group.StudyDate) - pd.to_datetime(group.StudyDate_real)
        assert moved.nunique() == 1 and moved.iloc[0] < pd.Timedelta(0)


def test_pseudonyms_come_back_as_real_values(lab: Any, home: Path, real: pd.DataFrame) -> None:
    hits = lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    again = lab.query("patient_dicomweb_paths", patient_id=lab.shown(PATIENT))
    pd.testing.assert_frame_equal(hits, again)
    cohort = dicomlab.FilterFile.from_dataframe(hits, level="series")
    uri = lab.upload(cohort, f"share-{PATIENT}.txt", overwrite=True)
    assert PATIENT not in uri and uri.endswith(f"share-{lab.shown(PATIENT)}.txt")
    written = (home / "bucket" / f"share-{PATIENT}.txt").read_text().split()
    mine = real[real.PatientID == PATIENT]
    assert set(written) == {
        f"/studies/{a}/series/{b}"
        for a, b in zip(mine.StudyInstanceUID, mine.SeriesInstanceUID, strict=True)
    }
    assert PATIENT not in str(hits.attrs) and lab.shown(PATIENT) in str(hits.attrs)
    lab.export_cohort(hits, "share_rows", name="rows.txt", overwrite=True, progress=False)
    saved = [p.read_text() for p in (home / "bucket").glob("rows.*.provenance.json")]
    assert saved and all(f'"patient_id": "{PATIENT}"' in text for text in saved)
    done = lab.export_cohort(
        uri, "share_cohort", write_disposition="WRITE_TRUNCATE", progress=False
    )
    assert done.counters == {"success": len(mine), "failure": 0}
    assert not _leaks(repr(done) + done._repr_html_() + str(done.provenance), real, lab)
    listed = lab.bucket.list()
    assert f"share-{lab.shown(PATIENT)}.txt" in listed
    assert not any(PATIENT in name for name in listed)


def test_tiles_and_viewer_show_pseudonyms(lab: Any, real: pd.DataFrame) -> None:
    hits = lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    grid = lab.images(hits, progress=False)
    text = "".join(t.caption + (t.error or "") + "".join(t.uids) for t in grid.tiles)
    assert not _leaks(text + grid._repr_html_(), real, lab)
    assert all(t.image for t in grid.tiles)  # CR and CT images: shown
    viewer = lab.view_series(hits.StudyInstanceUID[0], hits.SeriesInstanceUID[0])
    shown = viewer.metadata_panel.value + viewer.location_label.value + viewer.to_html()
    assert lab.shown(PATIENT) in shown and not _leaks(shown, real, lab)
    assert viewer.message is None  # the real instance was fetched and rendered


def test_errors_and_logs_are_scrubbed(
    lab: Any, home: Path, real: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    study, series = real.StudyInstanceUID[0], real.SeriesInstanceUID[0]
    with pytest.raises(DicomlabError) as raised:
        # share="images" lets the fetch reach the store, which names the missing instance.
        dicomlab.connect(home=home, share="images").store.fetch_instance(
            InstanceRef(study, series, "1.2.3.4.5")
        )
    assert study not in str(raised.value) and lab.shown(study) in str(raised.value)
    with caplog.at_level(logging.WARNING):
        logging.getLogger("dicomlab.notebook.widgets").warning("opening %s failed", study)
    assert study not in caplog.text and lab.shown(study) in caplog.text


def test_dicomlab_warnings_are_shown_scrubbed(home: Path, real: pd.DataFrame) -> None:
    study = real.StudyInstanceUID[0]
    with warnings.catch_warnings(record=True) as shown:  # what warnings.showwarning passes on
        warnings.simplefilter("always")
        lab = dicomlab.connect(home=home, share=True)  # installs the hook
        shown_study = lab.shown(study)  # the mode has learned the table's identifiers
        warnings.warn(f"files of study {study} were skipped", SkippedFilesWarning, stacklevel=1)
        warnings.warn(f"another library's {study}", UserWarning, stacklevel=1)
    texts = [str(w.message) for w in shown]
    assert f"files of study {shown_study} were skipped" in texts
    assert f"another library's {study}" in texts  # only dicomlab's own warnings are rewritten
    assert not [text for text in texts if f"study {study}" in text]


def _folder_with(tmp_path: Path, variants: list[dict[str, str]]) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    for number, changes in enumerate(variants):
        ds = dcmread(get_testdata_file("CT_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        for keyword, value in changes.items():
            setattr(ds, keyword, value)
        ds.save_as(folder / f"{number}.dcm")
    return folder


@pytest.mark.parametrize("share", [True, "images"])
def test_images_that_may_carry_text_are_withheld(tmp_path: Path, share: object) -> None:
    variants = [{"Modality": "US"}, {"BurnedInAnnotation": "YES"}, {"BurnedInAnnotation": "NO"}]
    folder = _folder_with(tmp_path, variants)
    lab = dicomlab.connect(folder, home=tmp_path / "home", share=share)
    lab.export_metadata(progress=False, workers=1)
    hits = lab.sql("SELECT StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID FROM dicom_metadata")
    tiles = lab.images(hits, progress=False).tiles
    withheld = [t for t in tiles if t.image is None]
    if share == "images":
        assert not withheld
    else:
        assert len(withheld) == 2 and all("withheld in share mode" in t.error for t in withheld)
        first = withheld[0]
        viewer = lab.view_series(*first.uids[:2])
        assert "withheld in share mode" in (viewer.message or "")


@st.composite
def metadata_rows(draw: Any) -> list[dict[str, Any]]:
    patients = draw(
        st.lists(
            st.from_regex(r"[A-Z0-9]{5,10}", fullmatch=True), min_size=1, max_size=3, unique=True
        )
    )
    rows = []
    for number in range(draw(st.integers(1, 6))):
        patient = patients[number % len(patients)]
        rows.append(
            {
                "PatientID": patient,
                "PatientName": f"{draw(st.sampled_from(['Smith', 'Jones', 'Nakamura']))}^{patient}",
                "StudyInstanceUID": generate_uid(),
                "SOPInstanceUID": generate_uid(),
                "StudyDate": draw(st.dates(dt.date(1960, 1, 1), dt.date(2030, 1, 1))),
                "AccessionNumber": draw(st.from_regex(r"ACC[0-9]{4,8}", fullmatch=True)),
                "InstitutionName": draw(st.sampled_from(["General Hospital", "St. Elsewhere"])),
                "SeriesDescription": f"scan of {patient}",
                "Modality": "CT",
            }
        )
    return rows


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is one to reproduce
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=metadata_rows())
def test_no_identifier_of_a_generated_table_survives(
    rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    import pyarrow as pa

    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    warehouse = DuckDBWarehouse(":memory:")
    warehouse.load("dicom_metadata", pa.Table.from_pylist(rows), write_disposition="WRITE_TRUNCATE")
    share = ShareMode(tmp_path, warehouse, "dicom_metadata")
    frame = pd.DataFrame(rows)
    shown = share.frame(frame)
    displays = [shown.to_string(), shown.to_html(), repr(shown)]
    displays += [share.shown(str(r)) for r in rows]  # free text that quotes a record
    displays += [str(share.shown(r)) for r in rows]  # records (dicts) as displayed
    # A date moved back can fall on another row's real date: only that value is not told apart.
    identifiers = table_identifiers(rows) - shown_dates(rows, share.pseudo)
    identifiers |= {r["InstitutionName"] for r in rows}
    assert not _found("\n".join(displays), identifiers)
    assert share.real(shown.SOPInstanceUID.tolist()) == frame.SOPInstanceUID.tolist()


def test_errors_of_the_lab_verbs_are_scrubbed(lab: Any) -> None:
    hits = lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    cohort = dicomlab.FilterFile.from_dataframe(hits, level="study")
    lab.upload(cohort, f"taken-{PATIENT}.txt", overwrite=True)
    with pytest.raises(dicomlab.AlreadyExistsError) as raised:
        lab.upload(cohort, f"taken-{PATIENT}.txt")  # the bucket names the real object
    assert PATIENT not in str(raised.value) and lab.shown(PATIENT) in str(raised.value)


def test_dicom_json_from_the_store_is_deidentified(lab: Any, real: pd.DataFrame) -> None:
    import json

    row = real[real.PatientID == PATIENT].iloc[0]
    metadata = lab.store.fetch_metadata(row.StudyInstanceUID, row.SeriesInstanceUID)
    assert metadata and not _leaks(json.dumps(metadata), real, lab)
    first = metadata[0]
    names = lab.sql("SELECT PatientName FROM dicom_metadata WHERE PatientID = @p", p=PATIENT)
    assert first["00100010"]["Value"][0]["Alphabetic"] == names.PatientName[0]
    assert "Value" not in first["0008103E"]  # SeriesDescription: free text, removed
    assert first["00080016"]["Value"] == [row.SOPClassUID]  # what it is, not whose: kept


def test_saved_thumbnails_withhold_the_same_images(tmp_path: Path) -> None:
    variants = [{"Modality": "US"}, {"BurnedInAnnotation": "NO", "Modality": "US"}]
    folder = _folder_with(tmp_path, variants)
    images = {}
    for share in ("images", True):
        lab = dicomlab.connect(folder, home=tmp_path / "home", share=share)
        lab.export_metadata(progress=False, workers=1, write_disposition="WRITE_TRUNCATE")
        hits = lab.sql("SELECT StudyInstanceUID, SOPInstanceUID FROM dicom_metadata")
        images[share] = lab.store.fetch_thumbnails(
            hits.sort_values("SOPInstanceUID"), progress=False
        )
    shown, checked = images["images"], images[True]
    # Sorted by pseudonym, the rows of the two runs line up the same way: compare as sets.
    assert len(set(shown) & set(checked)) == 1  # the "NO" one is the same image
    assert len(set(checked) - set(shown)) == 1  # the other is a placeholder


@st.composite
def datasets(draw: Any) -> Any:
    from pydicom import Dataset

    ds = Dataset()
    # Not a DICOM JSON tag key: hypothesis also draws constants such as "00100010" from source.
    tags = re.compile(r"[0-9A-F]{8}")
    ds.PatientID = draw(
        st.from_regex(r"[A-Z0-9]{6,10}", fullmatch=True).filter(lambda v: not tags.fullmatch(v))
    )
    ds.PatientName = f"{draw(st.sampled_from(['Smith', 'Jones']))}^{ds.PatientID}"
    ds.StudyDate = draw(st.dates(dt.date(1960, 1, 1), dt.date(2030, 1, 1))).strftime("%Y%m%d")
    ds.StudyInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.AccessionNumber = draw(st.from_regex(r"ACC[0-9]{4,8}", fullmatch=True))
    ds.InstitutionName = draw(st.sampled_from(["General Hospital", "St. Elsewhere"]))
    ds.ReferringPhysicianName = "House^Gregory"
    ds.SeriesDescription = f"scan of {ds.PatientID}"
    ds.Modality = "CT"
    item = Dataset()
    item.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedImageSequence = [item]
    ds.add_new(0x00091001, "LO", f"private {ds.PatientID}")
    return ds


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is one to reproduce
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ds=datasets())
def test_no_identifier_of_a_generated_dataset_survives(ds: Any, tmp_path: Path) -> None:
    import json

    from dicomlab.notebook.viewing import metadata_rows
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    share = ShareMode(tmp_path, DuckDBWarehouse(":memory:"), "dicom_metadata")
    secrets = [
        ds.PatientID, str(ds.PatientName), ds.StudyDate, ds.StudyInstanceUID, ds.SOPInstanceUID,
        ds.AccessionNumber, ds.InstitutionName, "House", "Gregory",
        ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID,
    ]  # fmt: skip
    shown = share.dataset(ds)
    displays = [str(shown), repr(metadata_rows(shown))]
    displays.append(json.dumps(share.shown(ds.to_json_dict())))  # DICOM JSON, as a store answers
    for text in displays:
        assert not _found(text, secrets), text
    assert str(ds.PatientID) in str(ds)  # the original is left as it was
    assert share.real(shown.SOPInstanceUID) == ds.SOPInstanceUID


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm"])
def test_a_deidentified_dataset_renders_as_the_original(name: str, lab: Any) -> None:
    from dicomlab.core.render import render_dataset

    original = dcmread(get_testdata_file(name))
    before = original.to_json_dict()
    shown = lab._share.dataset(original)
    assert shown.PatientID != original.PatientID and original.to_json_dict() == before
    assert render_dataset(shown, size=64, media_type="image/png") == render_dataset(
        original, size=64, media_type="image/png"
    )


def test_an_error_s_fields_and_causes_are_scrubbed(lab: Any, real: pd.DataFrame) -> None:
    from dicomlab.errors import DuplicateInstanceError
    from dicomlab.share import scrub_exception

    uid = real.SOPInstanceUID[0]
    try:
        try:
            raise ValueError(f"read {uid}.dcm")
        except ValueError as cause:
            raise DuplicateInstanceError(f"{uid} twice", uid=uid, paths=[f"a/{uid}.dcm"]) from cause
    except DuplicateInstanceError as exc:
        scrub_exception(exc, lab._share)
        texts = [str(exc), exc.uid, *exc.paths, str(exc.__cause__)]
    assert not [t for t in texts if uid in t] and lab.shown(uid) == texts[1]


def test_a_damaged_key_or_map_is_named(tmp_path: Path) -> None:
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    warehouse = DuckDBWarehouse(":memory:")
    first = ShareMode(tmp_path, warehouse, "dicom_metadata")
    again = ShareMode(tmp_path, warehouse, "dicom_metadata")  # the same key, read back
    assert first.pseudo.uid("1.2.3") == again.pseudo.uid("1.2.3")
    (tmp_path / "share" / "reverse.json").write_text("{not json")
    with pytest.raises(DicomlabError, match=r"reverse\.json"):
        ShareMode(tmp_path, warehouse, "dicom_metadata")
    (tmp_path / "share" / "reverse.json").unlink()
    (tmp_path / "share" / "key").write_bytes(b"short")
    with pytest.raises(DicomlabError, match=r"key.*damaged \(5 bytes\)"):
        ShareMode(tmp_path, warehouse, "dicom_metadata")


def test_the_census_reads_only_the_identifying_columns(lab: Any, real: pd.DataFrame) -> None:
    from dicomlab.core.deid import action_for

    census = lab._share.census(refresh=True)
    assert {"PatientID", "PatientName", "StudyDate", "SOPInstanceUID", "Modality"} <= set(census)
    assert all(action_for(c) or c in ("Modality", "BurnedInAnnotation") for c in census.columns)
    assert len(census) == len(real) and len(census.columns) < len(real.columns) / 2


def test_a_review_in_share_mode_keeps_real_decisions(
    lab: Any, home: Path, real: pd.DataFrame
) -> None:
    owner = dicomlab.connect(home=home, share=False)
    raw_hits = owner.query("patient_dicomweb_paths", patient_id=PATIENT)
    hits = lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    review = lab.review(hits, name="share-qc", reviewer="ana", progress=False)
    review.decide(0, "exclude", reason="motion")
    shown = review.to_html() + review.decisions.to_string() + repr(review.summary())
    tiles = [t for t in review.grid.page_tiles(0) if t is not None]
    assert tiles and all(t.image for t in tiles)
    shown += "".join(t.caption + "".join(t.uids) for t in tiles)
    assert not _leaks(shown, real, lab)
    # The table holds the real UIDs: the owner's view of the same review agrees.
    history = owner.decision_log().history("share-qc")
    assert set(history.SeriesInstanceUID) <= set(real.SeriesInstanceUID)
    kept_real = owner.reviewed(raw_hits, review="share-qc")
    kept = lab.reviewed(hits, review="share-qc")
    assert len(kept) == len(kept_real) == len(review.included()) < len(hits)
    assert set(kept.SOPInstanceUID) == {lab.shown(u) for u in kept_real.SOPInstanceUID}
    assert (history.decided_at == owner.decision_log().history("share-qc").decided_at).all()
    assert lab.decision_log().history("share-qc").decided_at.equals(history.decided_at)
    with pytest.raises(DicomlabError) as refused:  # real UIDs are not items of a shown review
        review.decide(raw_hits.loc[[1]], "include")
    assert "not an item of this review" in str(refused.value)
    assert not _leaks(str(refused.value), real, lab)


@pytest.mark.parametrize("value", ["yes", "on", 1, "True", [True]])
def test_a_share_argument_other_than_true_false_or_images_is_refused(
    home: Path, value: object
) -> None:
    before = sorted(p.name for p in home.iterdir())
    with pytest.raises(InvalidRequestError) as raised:
        dicomlab.connect(home=home, share=value)
    assert raised.value.value == value and repr(value) in str(raised.value)
    assert sorted(p.name for p in home.iterdir()) == before  # nothing made


@pytest.mark.parametrize(("text", "mode"), [("yes", True), ("0", False), ("images", "images")])
def test_the_environment_variable_takes_its_words(
    home: Path, monkeypatch: pytest.MonkeyPatch, text: str, mode: object
) -> None:
    monkeypatch.setenv("DICOMLAB_SHARE", text)
    assert dicomlab.connect(home=home).share == mode


def test_a_share_environment_value_of_no_known_word_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DICOMLAB_SHARE", "maybe")
    with pytest.raises(InvalidRequestError, match="DICOMLAB_SHARE='maybe'"):
        dicomlab.connect(home=home)


def test_two_labs_on_one_data_folder_keep_each_others_pseudonyms(
    home: Path, real: pd.DataFrame
) -> None:
    first = dicomlab.connect(home=home, share=True)
    second = dicomlab.connect(home=home, share=True)  # read the map before first saves
    names = [f"a new value {n}" for n in range(2)]
    shown = [
        lab._share.pseudo.pseudonym(name) for lab, name in zip((first, second), names, strict=True)
    ]
    for lab in (first, second):
        lab._share.save()
    kept = json.loads((home / "share" / "reverse.json").read_text())
    assert {kept[fake] for fake in shown} == set(names)  # neither save dropped the other's


def test_concurrent_writes_of_a_private_file_leave_one_whole_copy(tmp_path: Path) -> None:
    target = tmp_path / "share" / "reverse.json"
    copies = [json.dumps({str(n): "x" * 5000}).encode() for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda data: write_private(target, data), copies * 5))
    assert target.read_bytes() in copies  # whole, never two writers mixed in one file
    assert [p.name for p in target.parent.iterdir()] == ["reverse.json"]  # no temporaries left
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
