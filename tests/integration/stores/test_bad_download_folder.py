"""Downloading to a path that is a file is refused up front, naming the path.

Without the check every instance failed on its own and the result said only
how many were not downloaded.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pandas as pd
import pytest

from dicomlab.errors import LocalFileError
from dicomlab.samples.sample import seed_sample_store
from dicomlab.stores.folder import FolderStore
from tests.support.catalogue import UID_COLUMNS, snapshot


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> FolderStore:
    folder = tmp_path_factory.mktemp("store")
    seed_sample_store(folder)
    return FolderStore(folder)


@pytest.fixture(scope="module")
def rows(store: FolderStore) -> pd.DataFrame:
    return store.search_instances(PatientID="77654033")[list(UID_COLUMNS)]


@pytest.mark.parametrize("below", ["", "sub/folder"])
def test_download_to_a_file_is_refused_and_writes_nothing(
    store: FolderStore, rows: pd.DataFrame, tmp_path: Path, below: str
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    before = snapshot(tmp_path)
    with pytest.raises(LocalFileError, match=r"notes\.txt'? is a file, not a folder") as caught:
        store.download(rows, blocker / below if below else blocker, progress=False)
    assert caught.value.errno == errno.ENOTDIR and caught.value.filename == str(blocker)
    assert snapshot(tmp_path) == before


def test_download_to_a_missing_folder_makes_it(
    store: FolderStore, rows: pd.DataFrame, tmp_path: Path
) -> None:
    result = store.download(rows, tmp_path / "new" / "folder", progress=False)
    assert result.complete and len(result.written) == len(rows) == 7
