"""Files the command line writes in share mode: filter files name the real instances.

A filter file is the input of an export, so whatever the user gives (pseudonyms
copied from a shown table) it must name UIDs of the metadata table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import dicomlab
from dicomlab.cli import main

PATIENT = "77654033"  # 4 series, 7 instances in the sample cohort


@pytest.fixture(scope="module")
def real_series(home: Path) -> set[str]:
    table = dicomlab.connect(home=home, share=False).sql("SELECT * FROM dicom_metadata")
    return set(table["SeriesInstanceUID"])


@pytest.fixture
def shown_csv(home: Path, tmp_path: Path) -> Path:
    shown = dicomlab.connect(home=home, share=True).query(
        "patient_dicomweb_paths", patient_id=PATIENT
    )
    path = tmp_path / "hits.csv"
    shown.to_csv(path, index=False)
    return path


def _lines(path: Path) -> set[str]:
    return {line.rstrip("/").split("/")[-1] for line in path.read_text().splitlines()}


def test_filter_build_in_share_mode_names_the_real_series(
    home: Path, shown_csv: Path, real_series: set[str], tmp_path: Path
) -> None:
    shown = set(pd.read_csv(shown_csv, dtype=str)["SeriesInstanceUID"])
    assert not shown & real_series  # the CSV holds pseudonyms only
    target = tmp_path / "f.txt"
    args = ["filter", "build", "--from", str(shown_csv), "--level", "series", "-o", str(target)]
    assert main(["--home", str(home), "--share", "on", *args]) == 0
    named = _lines(target)
    assert len(named) == 4 and named <= real_series
    # Outside share mode the file holds the CSV's values as they are.
    plain = tmp_path / "plain.txt"
    args[-1] = str(plain)
    assert main(["--home", str(home), "--share", "off", *args]) == 0
    assert _lines(plain) == shown


def test_review_export_in_share_mode_names_the_real_series(
    home: Path, real_series: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = dicomlab.connect(home=home, share=True)
    hits = lab.query("patient_dicomweb_paths", patient_id=PATIENT)
    review = lab.review(hits, name="share-export", reviewer="ana", progress=False)
    review.decide([0, 1], "include")
    monkeypatch.setenv("DICOMLAB_SHARE", "1")
    target = tmp_path / "kept.txt"
    assert main(["--home", str(home), "review", "export", "share-export", "-o", str(target)]) == 0
    named = _lines(target)
    assert len(named) == 2 and named <= real_series


@pytest.mark.parametrize("source", ["real", "shown"])
def test_images_in_share_mode_are_named_with_pseudonyms(
    home: Path, shown_csv: Path, real_series: set[str], tmp_path: Path, source: str
) -> None:
    csv = shown_csv
    if source == "real":  # rows the owner wrote: their UIDs must not reach the file names
        csv = tmp_path / "real.csv"
        real = dicomlab.connect(home=home, share=False)
        real.query("patient_dicomweb_paths", patient_id=PATIENT).to_csv(csv, index=False)
    shown = pd.read_csv(shown_csv, dtype=str)["SOPInstanceUID"].tolist()
    out = tmp_path / "pictures"
    args = ["images", "--from", str(csv), "--out", str(out), "--size", "32"]
    assert main(["--home", str(home), "--share", "images", *args]) == 0
    names = sorted(path.stem for path in out.iterdir())
    assert names == [f"{n:04d}-{uid}" for n, uid in enumerate(shown, start=1)]


def test_images_outside_share_mode_keep_the_csv_uids(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "real.csv"
    rows = dicomlab.connect(home=home, share=False).query(
        "patient_dicomweb_paths", patient_id=PATIENT
    )
    rows.to_csv(csv, index=False)
    out = tmp_path / "pictures"
    args = ["images", "--from", str(csv), "--out", str(out), "--size", "32"]
    assert main(["--home", str(home), "--share", "off", *args]) == 0
    names = sorted(path.stem for path in out.iterdir())
    assert names == [f"{n:04d}-{uid}" for n, uid in enumerate(rows["SOPInstanceUID"], start=1)]
