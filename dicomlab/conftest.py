"""Doctest set-up: the examples in docstrings run against the sample lab.

Each docstring example sees ``lab``, a Lab on the sample cohort with its
metadata exported, in a throwaway data folder, and runs in an empty working
directory, so an example that writes a file leaves nothing behind. Examples
that need Google Cloud stay marked ``+SKIP``. Not part of the wheel.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Before anything opens the default data folder: never the user's own.
os.environ.setdefault("DICOMLAB_HOME", tempfile.mkdtemp(prefix="dicomlab-doctest-home-"))
os.environ.setdefault("MPLBACKEND", "Agg")

# The Beam export's transforms need Apache Beam at import (the optional `beam` extra).
collect_ignore = (
    [] if importlib.util.find_spec("apache_beam") else ["export/beam.py", "export/beamrun.py"]
)


@pytest.fixture(scope="session")
def _sample_lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import dicomlab

    lab = dicomlab.connect(home=tmp_path_factory.mktemp("doctest-lab"))
    lab.export_metadata(progress=False)
    return lab


# Every test collected under dicomlab/ is a doctest.
@pytest.fixture(autouse=True)
def _doctest_setup(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = request.getfixturevalue("doctest_namespace")
    namespace["lab"] = request.getfixturevalue("_sample_lab")
