"""The synthetic cohort generator: valid, realistic, deterministic files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomlab.core.uids import is_valid_uid
from dicomlab.samples.synthetic import (
    MODALITIES,
    CohortPosition,
    _SeriesWriter,
    build_instance,
    generate_cohort,
    synthetic_uid,
)

SHAPE = {"patients": 3, "studies_per_patient": 2, "series_per_study": 2, "instances_per_series": 3}


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.dcm"))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("synthetic")
    assert generate_cohort(folder, seed=3, **SHAPE) == 36
    return _files(folder)


def test_same_seed_gives_byte_identical_files(tmp_path, cohort):
    assert generate_cohort(tmp_path / "again", seed=3, **SHAPE) == 36
    again = _files(tmp_path / "again")
    assert [p.name for p in again] == [p.name for p in cohort]
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in cohort]


def test_other_seed_gives_other_uids(tmp_path, cohort):
    generate_cohort(tmp_path / "other", seed=4, **SHAPE)
    ours = {pydicom.dcmread(p).SOPInstanceUID for p in cohort}
    theirs = {pydicom.dcmread(p).SOPInstanceUID for p in _files(tmp_path / "other")}
    assert not ours & theirs


@pytest.mark.parametrize("instance", [0, 1, 5])
@pytest.mark.parametrize("patient", [0, 1, 2, 7])
def test_fast_writer_writes_what_dcmwrite_writes(patient, instance):
    pos = CohortPosition(seed=11, patient=patient, study=1, series=1, instance=instance)
    expected = io.BytesIO()
    pydicom.dcmwrite(expected, build_instance(pos, rows=6, columns=4), enforce_file_format=True)
    writer = _SeriesWriter(CohortPosition(11, patient, 1, 1, 0), rows=6, columns=4)
    assert writer.instance_bytes(pos) == expected.getvalue()


def test_uids_are_valid_unique_and_nested(cohort):
    datasets = [pydicom.dcmread(p) for p in cohort]
    sops = [ds.SOPInstanceUID for ds in datasets]
    assert len(set(sops)) == 36
    for ds in datasets:
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID):
            assert uid.startswith("2.25.") and is_valid_uid(uid) and len(uid) <= 64
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert len({ds.StudyInstanceUID for ds in datasets}) == 6
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 12
    assert len({ds.PatientID for ds in datasets}) == 3
    assert is_valid_uid(synthetic_uid(0)) and synthetic_uid(1, "a") != synthetic_uid(2, "a")


def test_headers_are_realistic(cohort):
    for path in cohort:
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.Modality in MODALITIES
        for keyword in (
            "PatientName",
            "PatientBirthDate",
            "PatientSex",
            "StudyDate",
            "StudyTime",
            "AccessionNumber",
            "StudyDescription",
            "SeriesDescription",
            "Manufacturer",
            "PixelSpacing",
            "WindowCenter",
            "WindowWidth",
            "ProcedureCodeSequence",
        ):
            assert keyword in ds, (keyword, path)
        if ds.Modality == "CT":
            assert ds.RescaleSlope == 1 and ds.RescaleIntercept == -1024
        if ds.Modality != "CR":
            assert len(ds.ImagePositionPatient) == 3 and len(ds.ImageOrientationPatient) == 6
            assert float(ds.SliceThickness) > 0
        assert ds.private_block(0x0009, "DICOMLAB SYNTHETIC")[0x01].value == "synthetic"
        pixels = ds.pixel_array
        assert pixels.shape == (8, 8) and pixels.dtype == np.uint16 and pixels.std() > 0


def test_instances_of_a_series_differ_only_where_they_should(cohort):
    first, second = (pydicom.dcmread(p) for p in cohort[:2])
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert (int(first.InstanceNumber), int(second.InstanceNumber)) == (1, 2)
    assert "ReferencedImageSequence" not in first
    assert second.ReferencedImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID
    if first.Modality != "CR":
        assert first.ImagePositionPatient[2] != second.ImagePositionPatient[2]


def test_image_size_is_a_parameter(tmp_path):
    generate_cohort(
        tmp_path,
        patients=1,
        studies_per_patient=1,
        series_per_study=1,
        instances_per_series=1,
        rows=16,
        columns=32,
    )
    assert pydicom.dcmread(_files(tmp_path)[0]).pixel_array.shape == (16, 32)
