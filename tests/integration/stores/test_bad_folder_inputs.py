"""The bad-input catalogue for a folder store holding two instances under one set of UIDs.

The store never guesses which file the UIDs mean and never saves another
instance than the one asked for (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pydicom
import pytest

from dicomlab.errors import InstanceMismatchError
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.folder import FolderStore
from tests.support.catalogue import UID_COLUMNS, snapshot


@pytest.fixture
def twins(tmp_path: Path) -> tuple[FolderStore, pydicom.Dataset, pydicom.Dataset]:
    """A folder with two files of two patients sharing Study, Series and SOP Instance UIDs."""
    folder = tmp_path / "store"
    folder.mkdir()
    source = pydicom.data.get_testdata_file("CT_small.dcm", download=False)
    first, second = pydicom.dcmread(source), pydicom.dcmread(source)
    first.PatientID, second.PatientID = "first", "second"
    second.PixelData = bytes(len(second.PixelData))  # different content, same UIDs
    first.save_as(folder / "a.dcm")
    second.save_as(folder / "b.dcm")
    return FolderStore(folder), first, second


def _rows_of(*datasets: pydicom.Dataset) -> pd.DataFrame:
    return pd.DataFrame(
        [[str(ds[c].value) for c in [*UID_COLUMNS, "PatientID"]] for ds in datasets],
        columns=[*UID_COLUMNS, "PatientID"],
    )


def test_rows_naming_one_instance_for_two_patients_save_nothing(twins, tmp_path):
    store, first, second = twins
    out = tmp_path / "out"
    result = store.download(_rows_of(first, second), out, progress=False)
    assert result.counter == {"written": 0, "skipped": 0, "repaired": 0, "failure": 1}
    instance, why = result.failures[0]
    assert instance == first.SOPInstanceUID and "['first', 'second']" in why
    assert snapshot(out) == {}


def test_a_file_of_another_patient_is_never_saved(twins, tmp_path):
    """The folder store will not guess which of the two files the UIDs mean."""
    store, first, second = twins
    for wanted in (first, second):
        out = tmp_path / wanted.PatientID
        result = store.download(_rows_of(wanted), out, progress=False)
        assert not result.complete
        assert result.counter == {"written": 0, "skipped": 0, "repaired": 0, "failure": 1}
        why = result.failures[0][1]
        assert "a.dcm" in why and "b.dcm" in why and "will not guess" in why, why
        assert snapshot(out) == {}


def test_a_folder_file_replaced_by_another_instance_is_refused(tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    ct = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm", download=False))
    mr = pydicom.dcmread(pydicom.data.get_testdata_file("MR_small.dcm", download=False))
    ct.save_as(folder / "x.dcm")
    store = FolderStore(folder)
    asked = InstanceRef(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert store.fetch_instance(asked).SOPInstanceUID == ct.SOPInstanceUID  # indexed
    mr.save_as(folder / "x.dcm")  # the file now holds another instance
    with pytest.raises(InstanceMismatchError) as info:
        store.fetch_instance(asked)
    assert type(info.value) is InstanceMismatchError
    assert info.value.asked == asked and info.value.received.instance == mr.SOPInstanceUID
    assert repr(ct.SOPInstanceUID) in str(info.value) and repr(mr.SOPInstanceUID) in str(info.value)
    out = tmp_path / "out"
    result = store.download(pd.DataFrame([asked.__dict__.values()], columns=UID_COLUMNS), out)
    assert result.counter["failure"] == 1 and repr(mr.SOPInstanceUID) in result.failures[0][1]
    assert snapshot(out) == {}
