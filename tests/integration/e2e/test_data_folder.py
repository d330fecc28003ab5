"""The data folder is the same from any working directory, and overrides still win."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

PROBE = (
    "import json, warnings, dicomlab\n"
    "with warnings.catch_warnings(record=True) as seen:\n"
    "    warnings.simplefilter('always')\n"
    "    lab = dicomlab.connect()\n"
    "print(json.dumps({'warehouse': lab.warehouse.url, 'bucket': lab.bucket.url,\n"
    "                  'store': lab.store.url, 'warnings': [str(w.message) for w in seen]}))\n"
)


def _connect_from(cwd: Path, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """A user whose per-user data folder is under tmp_path, with no DICOMLAB_HOME."""
    env = {k: v for k, v in os.environ.items() if k != "DICOMLAB_HOME"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_the_default_is_one_folder_from_any_working_directory(tmp_path, user_env):
    (tmp_path / "project" / "notebooks").mkdir(parents=True)
    from_root = _connect_from(tmp_path / "project", user_env)
    from_notebooks = _connect_from(tmp_path / "project" / "notebooks", user_env)
    assert from_root == from_notebooks
    home = tmp_path / "xdg" / "dicomlab"
    assert from_root["warehouse"] == f"duckdb:///{home / 'warehouse.duckdb'}"
    assert from_root["warnings"] == []
    assert sum(p.is_file() for p in (home / "store").rglob("*")) == 81
    assert not any((tmp_path / "project").rglob("dicomlab-data"))


def test_dicomlab_home_overrides_the_default(tmp_path, user_env):
    user_env["DICOMLAB_HOME"] = str(tmp_path / "mine")
    found = _connect_from(tmp_path, user_env)
    assert found["warehouse"] == f"duckdb:///{tmp_path / 'mine' / 'warehouse.duckdb'}"
    assert not (tmp_path / "xdg").exists()


def test_an_older_working_directory_folder_is_named_and_left_alone(tmp_path, user_env):
    legacy = tmp_path / "dicomlab-data"
    legacy.mkdir()
    (legacy / "warehouse.duckdb").write_bytes(b"an earlier warehouse")
    found = _connect_from(tmp_path, user_env)
    (message,) = found["warnings"]
    assert str(legacy) in message and str(tmp_path / "xdg" / "dicomlab") in message
    assert "DICOMLAB_HOME" in message
    assert (legacy / "warehouse.duckdb").read_bytes() == b"an earlier warehouse"
