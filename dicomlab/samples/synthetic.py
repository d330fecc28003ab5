"""Synthetic cohorts: realistic CT, MR and CR headers with small pixel arrays.

For benchmarks and scale tests. Everything is derived from a seed and the
instance's position in the cohort, so the same seed gives byte-identical
files. UIDs live under the ``2.25.`` root (ISO/IEC 9834-8: a UUID-sized
integer), hashed from the seed and the position.

:func:`build_instance` is pure; only :func:`generate_cohort` writes files.

>>> ds = build_instance(CohortPosition(seed=1, patient=0, study=0, series=0, instance=0))
>>> ds.Modality in MODALITIES, ds.SOPInstanceUID.startswith("2.25.")
(True, True)
>>> ds.SOPInstanceUID == build_instance(CohortPosition(1, 0, 0, 0, 0)).SOPInstanceUID
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import random
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

__all__ = ["MODALITIES", "CohortPosition", "build_instance", "generate_cohort", "synthetic_uid"]

logger = logging.getLogger(__name__)

MODALITIES = ("CT", "MR", "CR")
_SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
}
_MANUFACTURERS = ("ACME Medical", "Globex Imaging", "Initech Systems")
_BODY_PARTS = {
    "CT": ("CHEST", "ABDOMEN", "HEAD"),
    "MR": ("BRAIN", "KNEE", "SPINE"),
    "CR": ("CHEST", "HAND", "PELVIS"),
}
_FAMILY = ("Smith", "Garcia", "Okafor", "Tanaka", "Muller", "Rossi", "Nguyen", "Kowalski")
_GIVEN = ("Alex", "Sam", "Kim", "Robin", "Jo", "Chris", "Maria", "Lee")
_PRIVATE_CREATOR = "DICOMLAB SYNTHETIC"
_IMPLEMENTATION_UID = "2.25.231963383913590151519358009004519442733"
_MEDIA_INSTANCE = 0x00020003
_SOP_INSTANCE = 0x00080018
_REFERENCES = 0x00081140
_PRIVATE_VALUE = 0x00091002
_INSTANCE_NUMBER = 0x00200013
_POSITION = 0x00200032
_SLICE_LOCATION = 0x00201041
_PIXEL_DATA = 0x7FE00010
_VARYING_VRS = {
    _SOP_INSTANCE: "UI",
    _PRIVATE_VALUE: "DS",
    _INSTANCE_NUMBER: "IS",
    _POSITION: "DS",
    _SLICE_LOCATION: "DS",
}
# VRs with a 2-byte reserved field and a 4-byte length in explicit VR encoding.
_LONG_VRS = frozenset(
    ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")
)


@dataclass(frozen=True)
class CohortPosition:
    """Where an instance sits in a synthetic cohort (all indices 0-based)."""

    seed: int
    patient: int
    study: int
    series: int
    instance: int


def synthetic_uid(seed: int, *parts: object) -> str:
    """A valid ``2.25.`` UID, hashed from the seed and ``parts``.

    >>> synthetic_uid(0, "study", 1) == synthetic_uid(0, "study", 1)
    True
    >>> len(synthetic_uid(0, "x")) <= 64
    True
    """
    key = "/".join(str(p) for p in (seed, *parts)).encode()
    number = int.from_bytes(hashlib.sha256(key).digest()[:16], "big")
    return f"2.25.{number}"


def _rng(pos: CohortPosition, *level: int) -> random.Random:
    return random.Random(f"{pos.seed}/" + "/".join(map(str, level)))


def _patient(ds: Dataset, pos: CohortPosition) -> None:
    rng = _rng(pos, pos.patient)
    ds.PatientName = f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN)}"
    ds.PatientID = f"SYN{pos.seed:03d}{pos.patient:07d}"
    birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(365 * 80))
    ds.PatientBirthDate = birth.strftime("%Y%m%d")
    ds.PatientSex = rng.choice("MF")


def _study(ds: Dataset, pos: CohortPosition) -> str:
    rng = _rng(pos, pos.patient, pos.study)
    modality = rng.choice(MODALITIES)
    when = dt.datetime(2015, 1, 1) + dt.timedelta(seconds=rng.randrange(10 * 365 * 86400))
    ds.StudyInstanceUID = synthetic_uid(pos.seed, "study", pos.patient, pos.study)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = when.strftime("%H%M%S")
    ds.AccessionNumber = f"A{rng.randrange(10**9):09d}"
    ds.StudyID = str(pos.study + 1)
    ds.ReferringPhysicianName = f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN)}^^Dr"
    ds.BodyPartExamined = rng.choice(_BODY_PARTS[modality])
    ds.StudyDescription = f"{modality} {ds.BodyPartExamined.lower()}"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = f"SYN{modality}", "99DICOMLAB"
    code.CodeMeaning = ds.StudyDescription
    ds.ProcedureCodeSequence = Sequence([code])
    return modality


def _series(ds: Dataset, pos: CohortPosition, modality: str) -> None:
    rng = _rng(pos, pos.patient, pos.study, pos.series)
    ds.SeriesInstanceUID = synthetic_uid(pos.seed, "series", pos.patient, pos.study, pos.series)
    ds.SeriesNumber = pos.series + 1
    ds.Modality = modality
    ds.SOPClassUID = _SOP_CLASSES[modality]
    ds.Manufacturer = rng.choice(_MANUFACTURERS)
    ds.ManufacturerModelName = f"Model {rng.randrange(1, 9)}"
    ds.SeriesDescription = f"{ds.BodyPartExamined.lower()} series {pos.series + 1}"
    ds.FrameOfReferenceUID = synthetic_uid(pos.seed, "frame", pos.patient, pos.study)
    spacing = round(rng.uniform(0.3, 1.0), 3)
    ds.PixelSpacing = [spacing, spacing]
    ds.ImageType = ["ORIGINAL", "PRIMARY"] + (["AXIAL"] if modality != "CR" else [])
    if modality == "CR":
        ds.ViewPosition = rng.choice(("PA", "AP", "LAT"))
        ds.WindowCenter, ds.WindowWidth = 2048, 4096
        return
    ds.SliceThickness = rng.choice((0.625, 1.0, 1.25, 2.5, 5.0))
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PatientPosition = "HFS"
    if modality == "CT":
        ds.KVP, ds.RescaleSlope, ds.RescaleIntercept = 120, 1, -1024
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = [40, 400], [400, 1500]
    else:
        ds.MagneticFieldStrength = rng.choice((1.5, 3.0))
        ds.RepetitionTime, ds.EchoTime = rng.choice((500, 2000, 4000)), rng.choice((10, 90))
        ds.WindowCenter, ds.WindowWidth = 600, 1200


def _series_template(pos: CohortPosition) -> Dataset:
    """Everything shared by the instances of ``pos``'s series."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = UID(_IMPLEMENTATION_UID)
    ds.file_meta.ImplementationVersionName = "DICOMLAB_SYN"
    ds.SpecificCharacterSet = "ISO_IR 100"
    _patient(ds, pos)
    modality = _study(ds, pos)
    _series(ds, pos, modality)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    block = ds.private_block(0x0009, _PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", "synthetic")
    block.add_new(0x02, "DS", "0")
    return ds


def _instance_values(pos: CohortPosition, modality: str, thickness: float) -> dict[int, Any]:
    """The values that differ between the instances of one series, by tag."""
    values: dict[int, Any] = {
        _SOP_INSTANCE: synthetic_uid(
            pos.seed, "instance", pos.patient, pos.study, pos.series, pos.instance
        ),
        _INSTANCE_NUMBER: str(pos.instance + 1),
        _PRIVATE_VALUE: f"{pos.instance * 0.5:g}",
    }
    if modality != "CR":
        z = f"{-100.0 + pos.instance * thickness:.3f}".rstrip("0").rstrip(".")
        values[_POSITION] = ["-125", "-125", z]
        values[_SLICE_LOCATION] = z
    return values


def _pixels(pos: CohortPosition, rows: int, columns: int) -> bytes:
    rng = np.random.default_rng([pos.seed, pos.patient, pos.study, pos.series, pos.instance])
    return rng.integers(0, 4096, size=(rows, columns), dtype="<u2").tobytes()


def _reference(ds: Dataset, pos: CohortPosition) -> Sequence:
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = synthetic_uid(
        pos.seed, "instance", pos.patient, pos.study, pos.series, 0
    )
    return Sequence([ref])


def _set_instance(ds: Dataset, pos: CohortPosition, rows: int, columns: int) -> None:
    """Fill in the elements that differ between the instances of a series."""
    values = _instance_values(pos, ds.Modality, float(ds.get("SliceThickness", 0)))
    ds.file_meta.MediaStorageSOPInstanceUID = values[_SOP_INSTANCE]
    for tag, value in values.items():
        ds.add_new(tag, _VARYING_VRS[tag], value)
    ds.Rows, ds.Columns = rows, columns
    if pos.instance > 0:
        ds.ReferencedImageSequence = _reference(ds, pos)
    ds.PixelData = _pixels(pos, rows, columns)


def build_instance(pos: CohortPosition, *, rows: int = 8, columns: int = 8) -> Dataset:
    """The synthetic instance at ``pos``, a Part 10 dataset with file meta.

    Examples
    --------
    >>> ds = build_instance(CohortPosition(seed=0, patient=2, study=0, series=1, instance=3))
    >>> int(ds.InstanceNumber), ds.Rows, len(ds.PixelData)
    (4, 8, 128)
    """
    ds = _series_template(pos)
    _set_instance(ds, pos, rows, columns)
    return ds


def _encode(tag: int, vr: str, value: Any) -> bytes:
    """One explicit VR little endian element (text values padded as the standard says)."""
    data = (
        value
        if isinstance(value, bytes)
        else "\\".join(value if isinstance(value, list) else [value]).encode("ascii")
    )
    if len(data) % 2:
        data += b"\0" if vr in ("UI", "OB") else b" "
    head = struct.pack("<HH2s", tag >> 16, tag & 0xFFFF, vr.encode())
    size = struct.pack("<2xI", len(data)) if vr in _LONG_VRS else struct.pack("<H", len(data))
    return head + size + data


def _encode_elements(ds: Dataset) -> dict[int, bytes]:
    """Each element of ``ds`` encoded on its own, by tag, as pydicom writes it."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    encoded = {}
    for elem in ds:
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, False
        write_data_element(fp, elem)
        encoded[int(elem.tag)] = fp.getvalue()
    return encoded


class _SeriesWriter:
    """Encodes a series' shared elements once; each instance re-encodes only what varies."""

    def __init__(self, pos: CohortPosition, rows: int, columns: int) -> None:
        template = _series_template(pos)
        template.Rows, template.Columns = rows, columns
        self.rows, self.columns = rows, columns
        self.modality = str(template.Modality)
        self.thickness = float(template.get("SliceThickness", 0))
        self.meta = _encode_elements(template.file_meta)
        self.body = _encode_elements(template)
        holder = Dataset()
        holder.ReferencedImageSequence = _reference(template, pos)
        self.reference = _encode_elements(holder)[_REFERENCES]

    def instance_bytes(self, pos: CohortPosition) -> bytes:
        """The Part 10 file of the instance at ``pos`` (same bytes as ``dcmwrite``)."""
        values = _instance_values(pos, self.modality, self.thickness)
        meta = {**self.meta, _MEDIA_INSTANCE: _encode(_MEDIA_INSTANCE, "UI", values[_SOP_INSTANCE])}
        meta[0x00020001] = _encode(0x00020001, "OB", b"\0\1")
        meta_bytes = b"".join(meta[t] for t in sorted(meta))
        length = _encode(0x00020000, "UL", struct.pack("<I", len(meta_bytes)))
        body = dict(self.body)
        body.update((tag, _encode(tag, _VARYING_VRS[tag], v)) for tag, v in values.items())
        if pos.instance > 0:
            body[_REFERENCES] = self.reference
        pixels = _pixels(pos, self.rows, self.columns)
        body[_PIXEL_DATA] = _encode(_PIXEL_DATA, "OW", pixels)
        parts = [b"\0" * 128, b"DICM", length, meta_bytes]
        return b"".join(parts + [body[t] for t in sorted(body)])


def generate_cohort(
    folder: str | os.PathLike[str],
    *,
    patients: int,
    studies_per_patient: int,
    series_per_study: int,
    instances_per_series: int,
    seed: int = 0,
    rows: int = 8,
    columns: int = 8,
) -> int:
    """Write a synthetic cohort as ``folder/PATIENT/STUDY/SERIES/INSTANCE.dcm``; return the count.

    Files are Part 10, explicit VR little endian, the bytes ``pydicom.dcmwrite``
    writes for :func:`build_instance` (a series' shared elements are encoded
    once, so this runs at a few thousand instances a second on one core). The
    same arguments give byte-identical files.

    Examples
    --------
    >>> generate_cohort("cohort", patients=2, studies_per_patient=1, series_per_study=2,
    ...                 instances_per_series=5)
    20
    >>> sorted(p.name for p in Path("cohort/P000001/ST000/SE001").iterdir())[:2]
    ['IM00000.dcm', 'IM00001.dcm']
    """
    root = Path(folder)
    written = 0
    for p in range(patients):
        for st in range(studies_per_patient):
            for se in range(series_per_study):
                writer = _SeriesWriter(CohortPosition(seed, p, st, se, 0), rows, columns)
                where = root / f"P{p:06d}" / f"ST{st:03d}" / f"SE{se:03d}"
                where.mkdir(parents=True, exist_ok=True)
                for i in range(instances_per_series):
                    data = writer.instance_bytes(CohortPosition(seed, p, st, se, i))
                    (where / f"IM{i:05d}.dcm").write_bytes(data)
                    written += 1
    logger.info("wrote %d synthetic instances under %s", written, root)
    return written
