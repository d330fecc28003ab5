"""`dicomlab audit` and the command line in share mode."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import nbformat
import pytest

import dicomlab
from dicomlab.audit import Finding, audit_notebook, shown_dates
from dicomlab.cli import main
from dicomlab.core.deid import Pseudonymizer, token_pattern
from dicomlab.share.files import write_private

PATIENT = "77654033"


def _notebook(path: Path, text: str, widgets: str = "") -> Path:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"lab.query('x', patient_id='{PATIENT}')")  # source: not shown
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": text})]
    notebook.cells = [cell]
    if widgets:
        notebook.metadata["widgets"] = {"state": {"w": {"state": {"value": widgets}}}}
    nbformat.write(notebook, path)
    return path


def test_audit_passes_a_clean_notebook(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _notebook(tmp_path / "clean.ipynb", "ID-ABCDEFGHIJKL 2.25.1234567")
    assert main(["--home", str(home), "audit", str(path)]) == 0
    assert "no identifier" in capsys.readouterr().out


def test_audit_fails_on_an_output_or_a_widget(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _notebook(tmp_path / "leaky.ipynb", f"patient {PATIENT}")
    assert main(["--home", str(home), "audit", str(path)]) == 1
    captured = capsys.readouterr()
    assert "cell 1 output 0" in captured.out and PATIENT not in captured.out + captured.err
    assert "DICOMLAB_SHARE=1" in captured.err
    assert main(["--home", str(home), "audit", "--show", str(path)]) == 1
    assert f"cell 1 output 0: {PATIENT}" in capsys.readouterr().out
    hidden = _notebook(tmp_path / "widget.ipynb", "fine", widgets=f"Doe^Archibald · {PATIENT}")
    assert main(["--home", str(home), "audit", str(hidden)]) == 1
    assert "widget state" in capsys.readouterr().out


def test_audit_of_a_missing_notebook_says_so(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(home), "audit", "nowhere.ipynb"]) == 1
    assert "'nowhere.ipynb'" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["{}", "[1]", '{"cells": [1]}', '{"cells": [{"outputs": 1}]}'])
def test_audit_refuses_json_that_is_not_a_notebook(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = tmp_path / "not-a-notebook.ipynb"
    path.write_text(text)
    assert main(["--home", str(home), "audit", str(path)]) == 1  # not "nothing found"
    assert "not a notebook" in capsys.readouterr().err


def test_audit_against_a_missing_warehouse_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _notebook(tmp_path / "leaky.ipynb", f"patient {PATIENT}")
    typo = tmp_path / "typo" / "warehouse.duckdb"
    assert main(["--warehouse", str(typo), "audit", str(path)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["--home", str(tmp_path / "fresh"), "audit", str(path)]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not typo.parent.exists() and not (tmp_path / "fresh").exists()


def test_audit_marks_a_real_date_that_share_mode_also_shows(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key moving the patient's later study onto their earlier one: that date is ambiguous."""
    folder = tmp_path / "home"
    shutil.copytree(home, folder, ignore=shutil.ignore_patterns("share"))
    rows = dicomlab.connect(home=folder, share=False).sql(
        "SELECT PatientID, StudyInstanceUID, StudyDate FROM dicom_metadata"
    )
    earlier, later = sorted(set(rows[rows.PatientID == PATIENT].StudyDate))[:2]
    records = rows.to_dict("records")
    for number in itertools.count():
        key = number.to_bytes(32, "big")
        shown = shown_dates(records, Pseudonymizer(key))
        if earlier.isoformat() in shown and later.isoformat() not in shown:
            break
    path = _notebook(tmp_path / "dated.ipynb", f"{earlier.isoformat()} and {later.isoformat()}")
    where = "cell 1 output 0"
    unmarked = [Finding(where, earlier.isoformat()), Finding(where, later.isoformat())]
    assert sorted(audit_notebook(path, home=folder), key=str) == unmarked  # no key: no share mode
    assert not (folder / "share").exists()  # the audit made none
    (folder / "share").mkdir(mode=0o700)
    write_private(folder / "share" / "key", key)
    found = audit_notebook(path, home=folder)
    assert sorted(found, key=str) == [
        Finding(where, earlier.isoformat(), shifted=True),
        Finding(where, later.isoformat()),
    ]
    assert main(["--home", str(folder), "audit", str(path)]) == 1
    captured = capsys.readouterr()
    assert f"{where} (also a date share mode shows in place of another)" in captured.out
    assert "DICOMLAB_SHARE=1" in captured.err  # a date that is only real: a leak
    alone = _notebook(tmp_path / "shifted.ipynb", f"study of {earlier.isoformat()}")
    assert main(["--home", str(folder), "audit", "--show", str(alone)]) == 1
    captured = capsys.readouterr()
    assert f"{where}: {earlier.isoformat()} (also a date share mode shows" in captured.out
    assert "look at those outputs" in captured.err and "no leak" in captured.err


def test_commands_print_pseudonyms_in_share_mode(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT PatientID, StudyInstanceUID, StudyDate FROM dicom_metadata"
    assert main(["--home", str(home), "sql", sql, "--format", "csv"]) == 0
    plain = capsys.readouterr().out
    monkeypatch.setenv("DICOMLAB_SHARE", "1")
    assert main(["--home", str(home), "sql", sql, "--format", "csv"]) == 0
    shared = capsys.readouterr().out
    # A whole value: its digits may sit inside a 39-digit pseudonym UID (2.25.…) by chance.
    assert PATIENT in plain and not token_pattern([PATIENT]).findall(shared)
    assert shared.count("\n") == plain.count("\n") and "ID-" in shared


def test_the_share_option_turns_it_on(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT PatientID FROM dicom_metadata"
    assert main(["--home", str(home), "--share", "on", "sql", sql, "--format", "csv"]) == 0
    assert PATIENT not in capsys.readouterr().out
    assert main(["--home", str(home), "--share", "off", "sql", sql, "--format", "csv"]) == 0
    assert PATIENT in capsys.readouterr().out
