"""The checks a retrieved or downloaded instance passes, on pydicom's real test files."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from dicomlab.errors import DicomReadError, InstanceMismatchError
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.integrity import check_complete, check_instance, check_uids, received_ref

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
# Files pydicom ships cut short on purpose: the only ones the check may refuse.
TRUNCATED = {"MR_truncated.dcm": "(7FE0,0010)", "rtplan_truncated.dcm": "(300A,00B0)"}


def _readable() -> list[Path]:
    found = []
    for path in sorted(p for p in TEST_FILES.rglob("*") if p.is_file()):
        try:
            pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # not DICOM at all (a README, a DICOMDIR fragment…)
            continue
        found.append(path)
    return found


def test_every_whole_test_file_passes_and_the_truncated_ones_do_not():
    refused = {}
    for path in _readable():
        try:
            check_complete(pydicom.dcmread(path), path.name)
        except DicomReadError as exc:
            refused[path.name] = str(exc)
    assert sorted(refused) == sorted(TRUNCATED)
    for name, element in TRUNCATED.items():
        assert name in refused[name] and element in refused[name]


def _element_ends_before_rows(whole: pydicom.Dataset) -> set[int]:
    """Where top-level elements before Rows end: a cut there leaves a whole-looking dataset."""
    from pydicom.dataelem import RawDataElement

    ends = set()
    for tag in list(whole.keys()):
        raw = whole.get_item(tag)
        if tag < 0x00280010 and isinstance(raw, RawDataElement) and raw.length != 0xFFFFFFFF:
            ends.add(raw.value_tell + raw.length)
    return ends


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "rtdose.dcm"],
)
def test_an_image_cut_anywhere_after_its_uids_is_refused(name):
    data = (TEST_FILES / name).read_bytes()
    whole = pydicom.dcmread(io.BytesIO(data))
    asked = received_ref(whole)
    check_instance(asked, whole, name, size=len(data))
    passed = []
    for cut in range(200, len(data), max(1, len(data) // 150)):
        try:
            check_instance(asked, pydicom.dcmread(io.BytesIO(data[:cut])), name, size=cut)
        except (DicomReadError, InstanceMismatchError):
            continue
        except Exception:  # pydicom itself refused the cut data: fine too
            continue
        passed.append(cut)
    # Only a cut exactly between two elements before the image's Rows looks whole
    # (a dataset without pixels is lawful); anywhere else it is refused.
    assert set(passed) <= _element_ends_before_rows(whole), passed


def test_another_instance_is_named_with_the_one_asked_for():
    ds = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    asked = InstanceRef(ds.StudyInstanceUID, ds.SeriesInstanceUID, "1.2.3.4")
    with pytest.raises(InstanceMismatchError) as info:
        check_uids(asked, ds, "the answer")
    assert info.value.asked == asked and info.value.received == received_ref(ds)
    assert "'1.2.3.4'" in str(info.value) and repr(str(ds.SOPInstanceUID)) in str(info.value)
