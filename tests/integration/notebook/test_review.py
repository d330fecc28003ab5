"""Reviews kept in a real warehouse: DuckDB files shared by processes, BigQuery via its double.

What a decision promises: it is in the table when ``decide`` returns (a process
killed right after loses none), two processes writing to one DuckDB file lose
none, a second Lab (another kernel, a colleague) sees the latest decisions,
bad input writes nothing, and the cohort a review keeps flows into filter
files, cohort exports (whose provenance names the review) and the CLI.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

import dicomlab
from dicomlab.cli import main
from dicomlab.core.filterfile import FilterFile
from dicomlab.errors import (
    FilterFileError,
    InvalidIdentifierError,
    InvalidRequestError,
)
from dicomlab.warehouses.bigquery import BigQueryWarehouse
from dicomlab.warehouses.decisions import DecisionLog
from tests.support.bigquery_double import BigQueryDouble
from tests.support.paths import REPO

PATIENT = "77654033"  # 4 series, 7 instances in the sample cohort


@pytest.fixture
def lab(home: Path) -> dicomlab.Lab:
    lab = dicomlab.connect(home=home)
    lab.export_metadata(progress=False, workers=1)
    return lab


@pytest.fixture
def hits(lab: dicomlab.Lab) -> pd.DataFrame:
    return lab.query("patient_dicomweb_paths", patient_id=PATIENT)


def _history(lab: dicomlab.Lab, name: str) -> pd.DataFrame:
    return DecisionLog(lab.warehouse).history(name)


def test_a_second_lab_sees_the_latest_decisions_and_the_history_stays(lab, hits, home):
    review = lab.review(hits, name="lung-qc", reviewer="ana", progress=False)
    review.decide(0, "exclude", reason="motion")
    review.decide(0, "include")
    review.decide([1, 2], "exclude", reason="scout view")

    other = dicomlab.connect(home=home).review(hits, name="lung-qc", reviewer="ben", progress=False)
    assert other.decisions.equals(review.decisions)
    assert other.counts() == {"included": 1, "excluded": 2, "undecided": 1}
    assert other.state(0)["reviewer"] == "ana"
    assert len(_history(lab, "lung-qc")) == 4  # every decision, not only the latest

    other.decide(3, "exclude", reason="burned-in text")
    review.refresh()
    assert review.counts() == {"included": 1, "excluded": 3, "undecided": 0}
    assert review.state(3)["reviewer"] == "ben"


def test_included_drops_excluded_series_and_feeds_filter_files(lab, hits):
    review = lab.review(hits, name="ff", reviewer="ana", progress=False)
    excluded = review.items.loc[1, "SeriesInstanceUID"]
    review.decide(1, "exclude", reason="wrong body part")
    kept = review.included()
    assert excluded not in set(kept["SeriesInstanceUID"])
    assert len(kept) == len(hits) - (hits["SeriesInstanceUID"] == excluded).sum()
    lines = FilterFile.from_dataframe(kept, level="series").to_text()
    assert excluded not in lines and lines.count("\n") == 3
    assert lab.reviewed(hits, review="ff").equals(kept)


def test_the_cohort_export_provenance_names_the_review(lab, hits):
    review = lab.review(hits, name="export-qc", reviewer="ana", progress=False)
    review.decide(0, "exclude", reason="motion")
    review.decide(1, "include")
    done = lab.export_cohort(review.included(), "cohort_rows", progress=False)
    assert done.provenance["review"] == {
        "name": "export-qc",
        "level": "series",
        "table": "review_decisions",
        "warehouse": lab.warehouse.url,
        "included": 1,
        "excluded": 1,
        "undecided": 2,
    }
    assert done.provenance["query"]["name"] == "patient_dicomweb_paths"
    assert done.counters["success"] == len(review.included())


@pytest.mark.parametrize(
    ("call", "error", "value"),
    [
        (lambda r: r.decide(4, "exclude"), InvalidIdentifierError, 4),
        (lambda r: r.decide([0, -1], "exclude"), InvalidIdentifierError, -1),
        (lambda r: r.decide(0, "reject"), InvalidIdentifierError, "reject"),
        (lambda r: r.decide(("1.2.3", "1.2.3.4"), "exclude"), InvalidIdentifierError, None),
        (lambda r: r.decide(0, "exclude", reason="a\nb"), InvalidIdentifierError, "a\nb"),
    ],
)
def test_bad_input_is_refused_naming_it_and_writes_nothing(lab, hits, call, error, value):
    review = lab.review(hits, name="bad-input", reviewer="ana", progress=False)
    review.decide(0, "include")
    with pytest.raises(error) as caught:
        call(review)
    if value is not None:
        assert caught.value.value == value
        assert repr(value) in str(caught.value) or str(value) in str(caught.value)
    assert len(_history(lab, "bad-input")) == 1
    assert review.counts()["included"] == 1


@pytest.mark.parametrize(
    ("kwargs", "value"),
    [
        ({"name": "lung qc"}, "lung qc"),
        ({"name": "x;DROP"}, "x;DROP"),
        ({"level": "study"}, "study"),
    ],
)
def test_a_bad_review_name_or_level_is_refused_before_anything_is_written(lab, hits, kwargs, value):
    with pytest.raises(InvalidIdentifierError) as caught:
        lab.review(hits, **{"name": "ok", "reviewer": "ana", "progress": False, **kwargs})
    assert caught.value.value == value
    assert lab.warehouse.count_rows("review_decisions") is None


def test_an_instance_review_needs_instance_uids_and_keeps_its_level(lab, hits):
    with pytest.raises(FilterFileError, match="SOPInstanceUID"):
        lab.review(hits.drop(columns="SOPInstanceUID"), name="i", level="instance", reviewer="a")
    review = lab.review(hits, name="inst", level="instance", reviewer="ana", progress=False)
    review.decide(0, "exclude", reason="motion")
    assert len(review.included()) == len(hits) - 1
    with pytest.raises(InvalidRequestError, match="level='instance'"):
        lab.review(hits, name="inst", level="series", reviewer="ana", progress=False)
    assert len(lab.reviewed(hits, review="inst")) == len(hits) - 1  # its level by default


_CHILD = textwrap.dedent(
    """
    import sys, dicomlab, pandas as pd
    lab = dicomlab.connect(home=sys.argv[1])
    hits = pd.read_csv(sys.argv[4], dtype=str)  # no query: only the decisions share the file
    review = lab.review(hits, name=sys.argv[2], reviewer=sys.argv[2], progress=False)
    for n in range(int(sys.argv[3])):
        row = review.decide(n % len(review), "exclude" if n % 2 else "include", reason=f"r{n}")
        print(row["decision_id"][0], flush=True)  # shown as made only once decide() returned
    """
)


def _child(home: Path, name: str, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    hits = home / "hits.csv"
    if not hits.exists():
        lab = dicomlab.connect(home=home)
        lab.query("patient_dicomweb_paths", patient_id=PATIENT).to_csv(hits, index=False)
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(home), name, str(count), str(hits)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_process_killed_right_after_deciding_loses_no_decision(lab, home):
    child = _child(home, "killed", 10_000)
    assert child.stdout is not None
    shown = [child.stdout.readline().strip() for _ in range(5)]
    child.send_signal(signal.SIGKILL)  # right after the fifth call returned
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    stored = set(_history(lab, "killed")["decision_id"])
    assert set(shown) <= stored, set(shown) - stored


def test_two_processes_deciding_on_one_duckdb_file_lose_nothing(lab, home):
    children = [_child(home, name, 15) for name in ("first", "second")]
    printed = {}
    for child, name in zip(children, ("first", "second"), strict=True):
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        printed[name] = set(out.split())
    for name, ids in printed.items():
        assert len(ids) == 15
        assert set(_history(lab, name)["decision_id"]) == ids


def test_the_cli_shows_a_review_and_exports_what_it_kept(lab, hits, home, tmp_path, capsys):
    review = lab.review(hits, name="cli-qc", reviewer="ana", progress=False)
    review.decide([0, 1], "include")
    review.decide(2, "exclude", reason="contrast phase")
    assert main(["--home", str(home), "review", "show", "cli-qc", "--format", "json"]) == 0
    shown = pd.read_json(io.StringIO(capsys.readouterr().out), dtype=str)  # JSON and nothing else
    assert sorted(shown["reason"]) == ["", "", "contrast phase"]
    assert main(["--home", str(home), "review", "show", "cli-qc", "--format", "csv"]) == 0
    shown = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str, keep_default_na=False)
    assert sorted(shown["decision"]) == ["exclude", "include", "include"]
    target = tmp_path / "cohort.txt"
    assert main(["--home", str(home), "review", "export", "cli-qc", "-o", str(target)]) == 0
    wanted = {f"/studies/{s}/series/{r}" for s, r in review.items.iloc[[0, 1], :2].values}
    assert set(target.read_text().splitlines()) == wanted
    csv = tmp_path / "hits.csv"
    hits.to_csv(csv, index=False)
    keep = tmp_path / "kept.txt"
    args = ["review", "export", "cli-qc", "--from", str(csv), "--level", "series", "-o", str(keep)]
    assert main(["--home", str(home), *args]) == 0
    assert len(keep.read_text().splitlines()) == 3  # the undecided series stays
    assert main(["--home", str(home), "review", "show", "nobody"]) == 1
    assert "'nobody' has no decisions" in capsys.readouterr().err


def test_the_cli_refuses_a_level_that_brings_back_an_excluded_series(
    lab, hits, home, tmp_path, capsys
):
    review = lab.review(hits, name="cli-level", reviewer="ana", progress=False)
    items = review.items.reset_index(drop=True)
    study = items.StudyInstanceUID.value_counts().idxmax()  # a study with several series
    (first, second, *_) = items.index[items.StudyInstanceUID == study]
    review.decide(int(first), "include")
    review.decide(int(second), "exclude", reason="motion")
    target = tmp_path / "studies.txt"
    export = ["--home", str(home), "review", "export", "cli-level", "-o", str(target)]
    assert main([*export, "--level", "study"]) == 1
    assert "would bring back 1 item(s)" in capsys.readouterr().err
    assert not target.exists()
    csv = tmp_path / "hits.csv"
    hits.to_csv(csv, index=False)
    assert main([*export, "--from", str(csv), "--level", "study"]) == 1
    assert "would bring back" in capsys.readouterr().err
    assert main([*export, "--level", "series"]) == 0
    assert target.read_text().splitlines() == [f"/studies/{study}/series/{items.iloc[first, 1]}"]


# ---- BigQuery, through the REST double ------------------------------------------------------


@pytest.fixture(scope="module")
def double() -> Iterator[BigQueryDouble]:
    with BigQueryDouble("test-project") as server:
        server.create_dataset("imaging")
        yield server


def _bq_lab(double: BigQueryDouble, like: dicomlab.Lab) -> dicomlab.Lab:
    client = bigquery.Client(
        project="test-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": double.url},
    )
    warehouse = BigQueryWarehouse("bq://test-project.imaging", client=client, progress=False)
    return dicomlab.Lab(like.store, warehouse, like.bucket)


def test_bigquery_keeps_decisions_through_streaming_inserts(double, exported_lab):
    lab = _bq_lab(double, exported_lab)
    hits = exported_lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    review = lab.review(hits, name="bq-qc", reviewer="ana", progress=False)
    review.decide(0, "exclude", reason="motion")
    review.decide(0, "include")
    review.decide((hits.StudyInstanceUID[6], hits.SeriesInstanceUID[6]), "exclude", reason="scout")
    streamed = [r for r in double.requests if r.path.endswith("/insertAll")]
    assert len(streamed) == 3
    assert all(r.body["rows"][0]["insertId"] for r in streamed)

    colleague = _bq_lab(double, exported_lab)  # another client: nothing cached
    again = colleague.review(hits, name="bq-qc", reviewer="ben", progress=False)
    assert again.decisions.equals(review.decisions)
    assert again.counts() == {"included": 1, "excluded": 1, "undecided": 2}
    assert double.read_table("imaging.review_decisions").num_rows == 3
    assert colleague.reviewed(hits, review="bq-qc").equals(review.included())


def test_bigquery_refuses_bad_input_before_any_request(double, exported_lab):
    lab = _bq_lab(double, exported_lab)
    hits = exported_lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    review = lab.review(hits, name="bq-bad", reviewer="ana", progress=False)
    before = len(double.requests)
    with pytest.raises(InvalidIdentifierError):
        review.decide(9, "exclude")
    assert len(double.requests) == before


def test_a_review_of_an_unknown_name_is_empty_and_the_cli_says_so(lab, hits, home, capsys):
    assert lab.review(hits, name="fresh", reviewer="a", progress=False).decisions.empty
    assert main(["--home", str(home), "review", "export", "fresh", "-o", "-"]) == 1
    assert "no decisions" in capsys.readouterr().err


# ---- a DICOMweb store: Orthanc ---------------------------------------------------------------


def test_a_review_on_orthanc_shows_its_thumbnails_and_keeps_decisions(
    orthanc, exported_lab, sample_files, tmp_path
):
    from dicomlab.buckets.local import LocalBucket
    from dicomlab.stores.dicomweb import DICOMwebStore
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    store = DICOMwebStore(orthanc.dicomweb_url)
    assert store.store_files(sample_files).counter["failure"] == 0

    def open_lab() -> dicomlab.Lab:
        warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
        return dicomlab.Lab(store, warehouse, LocalBucket(tmp_path / "bucket"))

    hits = exported_lab.query("patient_dicomweb_paths", patient_id="98890234")
    review = open_lab().review(hits, name="orthanc-qc", reviewer="ana", progress=False)
    grid = review.grid
    tiles = grid.page_tiles(0)
    assert len(tiles) == len(review) and any(t is not None and t.image for t in tiles)
    for key in "xni":
        grid.press(key)
    again = open_lab().review(hits, name="orthanc-qc", reviewer="ben", progress=False)
    assert again.decisions["decision"].tolist() == review.decisions["decision"].tolist()
    assert again.counts()["excluded"] == 1 and again.counts()["included"] == 1
