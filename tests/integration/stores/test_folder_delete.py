"""Deleting from a folder store removes the folders the delete emptied, and only those."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from dicomlab.samples.sample import seed_sample_store
from dicomlab.stores.folder import FolderStore
from tests.support.catalogue import snapshot

PATIENT = "77654033"  # its studies' files are all under the folder of this name


@pytest.fixture
def seeded(tmp_path: Path) -> FolderStore:
    seed_sample_store(tmp_path / "store")
    return FolderStore(tmp_path / "store")


def _delete_patient(store: FolderStore) -> None:
    for study in set(store.search_instances(PatientID=PATIENT)["StudyInstanceUID"]):
        store.delete(str(study))


def _folders(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_dir()}


def test_deleting_a_study_removes_its_emptied_folders_only(seeded: FolderStore) -> None:
    root = seeded.path
    others = {p for p in _folders(root) if PATIENT not in p.parts}
    before = snapshot(root)
    _delete_patient(seeded)
    assert not (root / PATIENT).exists()
    assert _folders(root) == others and root.is_dir()
    after = snapshot(root)
    assert after and all(before[name] == data for name, data in after.items())
    assert all(PATIENT in Path(name).parts for name in set(before) - set(after))


def test_a_folder_holding_another_file_stays(seeded: FolderStore) -> None:
    root = seeded.path
    series = next(p for p in (root / PATIENT).iterdir() if p.is_dir())
    (series / "notes.txt").write_text("keep me")
    _delete_patient(seeded)
    assert (series / "notes.txt").read_text() == "keep me"
    assert _folders(root / PATIENT) == {series}  # the folders on its path stay, no other
    assert [p.name for p in (root / PATIENT).iterdir()] == [series.name]


def test_deleting_what_was_stored_leaves_the_root_empty_but_there(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    store = FolderStore(root)
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    store.store_files([get_testdata_file("CT_small.dcm", download=False)])
    assert _folders(root)  # the store keeps files in folders named after the UIDs
    store.delete(ds.StudyInstanceUID, ds.SeriesInstanceUID)
    assert root.is_dir() and not any(p.is_dir() for p in root.rglob("*"))
    assert store.search_instances().empty
