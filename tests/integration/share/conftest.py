"""Share mode's tests start from a data folder whose table holds the sample cohort."""

from __future__ import annotations

from pathlib import Path

import pytest

import dicomlab


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder of the module's own, the sample cohort exported (share mode off)."""
    folder = tmp_path_factory.mktemp("share-home")
    dicomlab.connect(home=folder, share=False).export_metadata(progress=False, workers=1)
    return folder
