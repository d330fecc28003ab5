"""The wheel carries the canned SQL, so a non-editable install finds it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = out.glob("dicomlab-*.whl")
    return built


def test_wheel_ships_queries_and_typing_marker(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {Path(n).name for n in names if n.startswith("dicomlab/_queries/")}
    assert shipped == {p.name for p in (REPO / "queries").glob("*.sql")}
    assert "dicomlab/py.typed" in names and "dicomlab/core/queries.py" in names
    assert not any(n.startswith(("tests/", "notebooks/")) for n in names)


def test_installed_wheel_finds_queries(wheel, tmp_path):
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "import dicomlab.core.queries as q; print(q.queries_dir()); "
        "print(q.load_query('latest_studies').parameters[0].name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target)},
    )
    folder, param = out.stdout.split()
    assert Path(folder) == target / "dicomlab" / "_queries" and param == "limit"


def test_binder_post_build_exports_and_opens_the_quickstart(tmp_path):
    import os

    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "DICOMLAB_HOME": str(tmp_path / "data"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", str(REPO / "binder" / "postBuild")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "success=81" in done.stdout
    config = (tmp_path / ".jupyter" / "jupyter_server_config.py").read_text()
    assert "/lab/tree/notebooks/01_quickstart.ipynb" in config
    assert (REPO / "notebooks" / "01_quickstart.ipynb").is_file()
