"""The command line and the demo, run as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dicomlab
from dicomlab.cli import main
from dicomlab.core.filterfile import FilterFile
from tests.support.paths import NOTEBOOKS


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
    # Outside a checkout (no notebooks/ here), the demo runs without its notebook and says so.
    done = run_cli("demo", "--out", "out", cwd=tmp_path, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "no quickstart.html" in done.stdout
    assert not (tmp_path / "out" / "quickstart.html").exists()
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


def test_the_demo_with_its_notebook_prints_no_traceback(tmp_path):
    """What `make demo` runs: the notebook's kernel stops with the export's workers in it."""
    notebook = NOTEBOOKS / "01_quickstart.ipynb"
    done = run_cli(
        "demo", "--out", "out", "--notebook", str(notebook), cwd=tmp_path, home=tmp_path / "home"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout + done.stderr
    assert "Traceback" not in printed and "KeyboardInterrupt" not in printed, printed[-3000:]
    assert (tmp_path / "out" / "quickstart.html").stat().st_size > 0


def test_export_and_query_commands(tmp_path, capsys):
    home = str(tmp_path / "home")
    assert main(["--home", home, "export-metadata"]) == 0
    assert "success=81" in capsys.readouterr().out
    assert main(["--home", home, "export-metadata"]) == 1
    err = capsys.readouterr().err  # the advice as the command line spells it
    assert "pass --write-disposition WRITE_TRUNCATE to replace it or WRITE_APPEND" in err
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


def test_export_of_a_store_that_cannot_be_read_fails_unless_allow_partial(tmp_path, capsys):
    from dicomlab.samples.sample import sample_files

    store = tmp_path / "store"
    store.mkdir()
    for path in sample_files()[:3]:
        (store / path.name).write_bytes(path.read_bytes())
    os.symlink(tmp_path / "gone.dcm", store / "gone.dcm")  # listed, but cannot be opened
    common = ["--home", str(tmp_path / "home"), "--store", str(store), "export-metadata"]
    assert main([*common, "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "gone.dcm" in err and "--allow-partial" in err and "allow_partial=" not in err
    assert main([*common, "--workers", "1", "--allow-partial"]) == 0
    out = capsys.readouterr().out
    assert "success=3" in out and "PARTIAL: unread=1" in out


def test_a_query_before_any_export_says_which_command_exports(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "query", "latest_studies", "--param", "limit=2"]) == 1
    assert "dicomlab export-metadata" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["query"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path), "query", "latest_studies", "--param", "oops"])
    assert info.value.code == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path), "query", "latest_studies"])
    assert info.value.code == 2
    assert "takes --param limit=INT64 (missing: limit)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path), "query", "series_per_patient", "--param", "limit=2"])
    assert info.value.code == 2
    assert "takes no --param (unknown: limit)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "forms"), [("--store", "dicom-web"), ("--warehouse", "bq://"), ("--bucket", "gs://")]
)
def test_a_backend_of_no_known_form_is_a_one_line_usage_error(tmp_path, capsys, option, forms):
    spec = "postgres://db.example.org/lab"
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path), option, spec, "queries"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert spec in err and forms in err and len(err.splitlines()) == 1  # names the forms too


def test_query_formats_and_sql(exported_lab, tmp_path, capsys):
    import json

    home = str(exported_lab_home(exported_lab))
    args = ["--home", home, "query", "latest_studies", "--param", "limit=3"]
    assert main([*args, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and set(rows[0]) == {
        "StudyDateTime",
        "PatientID",
        "StudyInstanceUID",
        "InstanceCount",
    }
    assert main([*args, "--format", "table"]) == 0
    assert "StudyDateTime" in capsys.readouterr().out.splitlines()[0]
    sql = (
        "SELECT COUNT(*) AS n FROM dicom_metadata WHERE Modality IN UNNEST(@m) AND StudyDate >= @d"
    )
    assert main(["--home", home, "sql", sql, "--param", "m:ARRAY<STRING>=CT,MR",
                 "--param", "d:DATE=2000-01-01"]) == 0  # fmt: skip
    counted = capsys.readouterr().out.splitlines()
    expected = exported_lab.sql(sql, m=["CT", "MR"], d="2000-01-01").n[0]
    assert counted == ["n", str(expected)] and expected > 0
    with pytest.raises(SystemExit) as info:
        main(["--home", home, "sql", sql, "--param", "m:WIDGET=1"])
    assert info.value.code == 2


def exported_lab_home(lab):
    return Path(lab.warehouse.url.removeprefix("duckdb:///")).parent


def test_filter_build_upload_export_cohort_and_images(exported_lab, tmp_path, capsys):
    import json

    from PIL import Image

    # A copy: this test writes a table, and the shared exported lab stays as exported.
    home = str(shutil.copytree(exported_lab_home(exported_lab), tmp_path / "home"))
    hits = tmp_path / "hits.csv"
    exported_lab.query("patient_dicomweb_paths", patient_id="77654033").to_csv(hits, index=False)
    out = tmp_path / "cohort.txt"
    build = ["filter", "build", "--from", str(hits), "--level", "series", "-o", str(out)]
    assert main(build) == 0
    assert FilterFile.parse(out.read_text()).level == "series"
    out.write_text("/studies/1.2\n")
    assert main(build) == 1 and "--overwrite" in capsys.readouterr().err
    assert out.read_text() == "/studies/1.2\n"
    assert main([*build, "--overwrite"]) == 0
    capsys.readouterr()

    bucket = tmp_path / "bucket"
    assert (
        main(["--home", home, "--bucket", str(bucket), "upload", str(out), "--name", "c.txt"]) == 0
    )
    assert capsys.readouterr().out.strip().endswith("/c.txt")
    assert (bucket / "c.txt").read_text() == out.read_text()
    assert (
        main(["--home", home, "--bucket", str(bucket), "upload", str(out), "--name", "c.txt"]) == 1
    )
    err = capsys.readouterr().err
    assert "pass --overwrite to replace it" in err and "overwrite=True" not in err

    table = "cli_cohort"
    args = ["--home", home, "--bucket", str(bucket), "export-cohort", "--from", str(hits)]
    assert main([*args, "--destination", table, "--write-disposition", "WRITE_TRUNCATE"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["result"]["counters"] == {"success": 7, "failure": 0}
    assert record["filter_file"]["lines"] == 7

    # An instance that cannot be copied makes the export a failure, its record printed still.
    rows = exported_lab.query("patient_dicomweb_paths", patient_id="77654033")
    rows.loc[len(rows)] = ["/dicomWeb/x", "1.2.3.4", "1.2.3.4.5", "1.2.3.4.5.6"]
    rows.to_csv(tmp_path / "broken.csv", index=False)
    copied = ["--from", str(tmp_path / "broken.csv"), "--destination", str(tmp_path / "copy")]
    assert main(["--home", home, "--bucket", str(bucket), "export-cohort", *copied]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["result"]["counters"]["failure"] == 1
    assert "incomplete: 1 instance(s) failed" in captured.err

    pictures = tmp_path / "pictures"
    assert main(["--home", home, "images", "--from", str(hits), "--out", str(pictures),
                 "--size", "32"]) == 0  # fmt: skip
    files = sorted(pictures.iterdir())
    assert len(files) == 7 and all(Image.open(f).size == (32, 32) for f in files)
    assert main(["--home", home, "images", "--from", str(hits), "--out", str(pictures)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_missing_csv_is_a_one_line_failure(tmp_path, capsys):
    assert main(["filter", "build", "--from", str(tmp_path / "nope.csv"), "-o", "-"]) == 1
    err = capsys.readouterr().err
    assert "nope.csv" in err and len(err.splitlines()) == 1


def test_every_subcommand_has_help(capsys):
    for command in (["demo"], ["export-metadata"], ["query"], ["sql"], ["queries"],
                    ["filter", "build"], ["upload"], ["export-cohort"], ["images"]):  # fmt: skip
        with pytest.raises(SystemExit) as info:
            main([*command, "--help"])
        assert info.value.code == 0
        assert "usage: dicomlab" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    store_help = shown.split("--store STORE")[-1].partition("--warehouse WAREHOUSE")[0]
    for form in ("a folder", "a DICOMweb URL", "dicomStores/S", "gs://BUCKET[/PREFIX]"):
        assert form in store_help, form  # every form of store connect() takes


# ---- the output's reader, and bad option values ------------------------------------------

MANY_ROWS = "SELECT x FROM UNNEST(GENERATE_ARRAY(1, 200000)) AS x"  # 1.3 MB: over any pipe buffer


def dicomlab_command(lab: dicomlab.Lab, *args: str) -> list[str]:
    """The command line for ``args`` on the exported lab (read only)."""
    return [sys.executable, "-m", "dicomlab", "--home", str(exported_lab_home(lab)), *args]


def test_a_reader_that_leaves_ends_the_command_quietly_with_141(exported_lab):
    command = dicomlab_command(exported_lab, "sql", MANY_ROWS)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline() == b"x\n"  # `| head -1`: one line, then gone
        process.stdout.close()
        err = process.stderr.read()
        assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as cat or git log end
    assert err == b""


def test_all_rows_reach_a_reader_that_stays(exported_lab):
    done = subprocess.run(
        dicomlab_command(exported_lab, "sql", MANY_ROWS), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == b"200000" and len(done.stdout.splitlines()) == 200001


@pytest.mark.parametrize(
    ("redirect", "reason"),
    [
        pytest.param(">&-", "standard output is closed", id="closed"),
        pytest.param(">/dev/full", "No space left on device", id="full"),
        pytest.param("1</dev/null", "Bad file descriptor", id="read-only"),
    ],
)
def test_an_output_that_cannot_be_written_is_a_one_line_failure(exported_lab, redirect, reason):
    if redirect == ">/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    script = f'exec "$@" {redirect}'
    command = ["sh", "-c", script, "sh", *dicomlab_command(exported_lab, "sql", MANY_ROWS)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 1 and reason in done.stderr, done.stderr


def test_a_negative_size_is_a_usage_error_not_a_traceback(tmp_path):
    done = run_cli(
        "images", "--from", "hits.csv", "--out", "pictures", "--size", "-5",
        cwd=tmp_path, home=tmp_path / "home",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "dicomlab images: error: argument --size: '-5' is not a positive whole number; "
        "see 'dicomlab images --help'"
    ]
    assert not (tmp_path / "pictures").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["images", "--from", "h.csv", "--out", "o", "--size", "0"], "'0'"),
        (["images", "--from", "h.csv", "--out", "o", "--size", "abc"], "'abc'"),
        (["images", "--from", "h.csv", "--out", "o", "--size", "1.5"], "'1.5'"),
        (["images", "--from", "h.csv", "--out", "o", "--media-type", "image/gif"], "'image/gif'"),
        (["export-metadata", "--workers", "0"], "'0'"),
        (["export-metadata", "--table", "1bad"], "'1bad'"),
        (["export-metadata", "--write-disposition", "WRITE_MAYBE"], "'WRITE_MAYBE'"),
        (["query", "no_such_query"], "'no_such_query'"),
        (["query", "latest_studies", "--source", "nope"], "'nope'"),
        (["query", "latest_studies", "--table", "a;b"], "'a;b'"),
        (["query", "latest_studies", "--format", "xml"], "'xml'"),
        (["query", "latest_studies", "--param", "oops"], "'oops'"),
        (["query", "latest_studies", "--param", "limit=many"], "'many'"),
        (["sql", "SELECT 1", "--param", "m:WIDGET=1"], "'WIDGET'"),
        (["upload", "c.txt", "--name", "../c.txt"], "'../c.txt'"),
        (["export-cohort", "--from", "h.csv", "--destination", "t", "--name", "a//b"], "'a//b'"),
        (["filter", "build", "--from", "h.csv", "-o", "-", "--level", "planet"], "'planet'"),
    ],
)
def test_every_bad_option_value_exits_2_with_one_line_naming_it(tmp_path, capsys, args, named):
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path), *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and named in err, err
