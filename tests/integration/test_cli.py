"""The command line and the demo, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dicomlab.cli import main
from dicomlab.filterfile import FilterFile


def run_cli(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DICOMLAB_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "dicomlab", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_writes_every_output(tmp_path):
    done = run_cli("demo", "--out", "out", "--notebook", "", cwd=tmp_path, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    worklist = (out / "worklist.csv").read_text().splitlines()
    assert worklist[0].startswith("StudyDateTime,PatientID,StudyInstanceUID,InstanceCount")
    assert len(worklist) == 1 + 7
    paths = (out / "patient_paths.csv").read_text().splitlines()
    assert len(paths) == 1 + 7 and all("/dicomWeb/studies/" in line for line in paths[1:])
    cohort = FilterFile.parse((out / "cohort.txt").read_text())
    assert cohort.level == "series" and len(cohort) == 4
    thumbnails = sorted((out / "thumbnails").glob("*.png"))
    assert len(thumbnails) >= 6
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in thumbnails)
    assert str(out / "cohort.txt") in done.stdout
    # Re-running is safe: the demo replaces its own results.
    again = run_cli("demo", "--out", "out", "--notebook", "", cwd=tmp_path, home=tmp_path / "home")
    assert again.returncode == 0, again.stderr


def test_export_and_query_commands(tmp_path, capsys):
    home = str(tmp_path / "home")
    assert main(["--home", home, "export-metadata"]) == 0
    assert "success=81" in capsys.readouterr().out
    assert main(["--home", home, "export-metadata"]) == 1
    assert "WRITE_TRUNCATE" in capsys.readouterr().err
    assert (
        main(["--home", home, "query", "patient_dicomweb_paths", "--param", "patient_id=77654033"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("DICOMwebPath") and len(lines) == 8
    assert main(["--home", home, "query", "latest_studies", "--param", "limit=2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["--home", home, "queries"]) == 0
    assert "patient_dicomweb_paths" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["query"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path), "query", "latest_studies", "--param", "oops"])
    assert info.value.code == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_bad_backend_is_a_one_line_failure(tmp_path, capsys):
    spec = "postgres://db.example.org/lab"
    assert main(["--home", str(tmp_path), "--warehouse", spec, "queries"]) == 1
    err = capsys.readouterr().err
    assert spec in err and "duckdb:///" in err and "bq://" in err and len(err.splitlines()) == 1
