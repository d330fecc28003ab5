"""Shared fixtures. Every test (and every notebook run under nbval) works in a
throwaway data folder, never in ./dicomlab-data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set at import, before any notebook kernel starts, so nbval's kernels inherit it.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="dicomlab-test-home-"))
os.environ["DICOMLAB_HOME"] = str(_SESSION_HOME)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh, empty data folder."""
    return tmp_path / "home"


@pytest.fixture(scope="session")
def exported_lab(tmp_path_factory: pytest.TempPathFactory):
    """A Lab on the sample cohort with its metadata exported (shared, read-only use)."""
    import dicomlab

    lab = dicomlab.connect(home=tmp_path_factory.mktemp("exported"))
    lab.export_metadata(progress=False)
    return lab


@pytest.fixture(scope="session")
def sample_files() -> list[Path]:
    """The sample cohort's instance files, as pydicom ships them."""
    from dicomlab.samples.sample import sample_files

    return sample_files()
