"""STOW-RS uploads: Part 10 files in batches, and DICOM JSON with a JPEG image.

What the server stored and refused is read from its response (also from the
body of a 400 or 409 answer to a partly failed batch) into a
:class:`StowResult`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicomlab.errors import DicomlabError

if TYPE_CHECKING:
    import requests
    from pydicom import Dataset

__all__ = [
    "StowResult",
    "build_json_jpeg_body",
    "dataset_from_json_jpeg",
    "json_body",
    "read_batch",
    "record_stow",
    "store_in_batches",
]

logger = logging.getLogger(__name__)
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
BULK_LOCATION = "jpeg-image"


@dataclass
class StowResult:
    """What a STOW-RS upload did: SOP Instance UIDs stored, and ``(source, reason)`` failures.

    >>> r = StowResult(stored=["1.2.3"], failures=[("a.dcm", "not DICOM")])
    >>> r.counter
    {'success': 1, 'failure': 1}
    """

    stored: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def counter(self) -> dict[str, int]:
        """``{"success": n, "failure": m}``."""
        return {"success": len(self.stored), "failure": len(self.failures)}


def store_in_batches(
    paths: Iterable[str | os.PathLike[str]],
    batch_size: int,
    store_datasets: Callable[[dict[str, Dataset], StowResult], object],
) -> StowResult:
    """Read ``paths`` ``batch_size`` at a time and hand each batch to ``store_datasets``.

    Files that cannot be read are failures in the result; the rest are stored.
    """
    from itertools import islice

    result = StowResult()
    iterator = iter(paths)
    while batch := list(islice(iterator, batch_size)):
        datasets = read_batch(batch, result)
        if datasets:
            store_datasets(datasets, result)
    return result


def read_batch(batch: list[str | os.PathLike[str]], result: StowResult) -> dict[str, Dataset]:
    """The readable files of ``batch`` by SOPInstanceUID; unreadable ones become failures.

    A second file with a SOPInstanceUID already in the batch is a failure too
    (naming both files): one request cannot say which of the two the server
    should keep, and keeping the last silently dropped the first.
    """
    from pydicom import dcmread

    datasets: dict[str, Dataset] = {}
    sources: dict[str, str] = {}
    for path in batch:
        try:
            ds = dcmread(path)
            uid = str(ds.SOPInstanceUID)
        except Exception as exc:  # a bad file is reported, never fatal
            reason = str(exc).split(" Use force=True")[0]
            result.failures.append((os.fspath(path), f"not readable as DICOM: {reason}"))
            continue
        if uid in datasets:
            result.failures.append(
                (
                    os.fspath(path),
                    f"not sent: SOPInstanceUID {uid!r} is also that of {sources[uid]!r} "
                    "in the same upload batch; upload one of them on its own",
                )
            )
            continue
        datasets[uid], sources[uid] = ds, os.fspath(path)
    return datasets


def json_body(response: requests.Response | None) -> Dataset | None:
    """A STOW response body as a Dataset, if it is DICOM JSON."""
    from pydicom import Dataset

    if response is None:
        return None
    try:
        body = response.json()
        return Dataset.from_json(body) if isinstance(body, dict) else None
    except (ValueError, TypeError, KeyError, AttributeError):  # not (valid) DICOM JSON
        return None


def record_stow(response: Dataset, sent: dict[str, Dataset], result: StowResult) -> None:
    """Read ReferencedSOPSequence and FailedSOPSequence of a STOW response into ``result``.

    Only instances that were sent count as stored: an acknowledgement for a UID
    that was not sent is logged and ignored (it says nothing of what was sent),
    and one also listed as failed is a failure.
    """
    acknowledged = [
        str(item.get("ReferencedSOPInstanceUID", ""))
        for item in response.get("ReferencedSOPSequence", [])
    ]
    failed = {
        str(item.get("ReferencedSOPInstanceUID", "")): str(item.get("FailureReason", "unknown"))
        for item in response.get("FailedSOPSequence", [])
    }
    stored = [uid for uid in dict.fromkeys(acknowledged) if uid in sent and uid not in failed]
    strangers = sorted(set(acknowledged) - set(sent))
    if strangers:
        logger.warning("STOW acknowledged instances that were not sent: %s", strangers)
    failed = {uid: reason for uid, reason in failed.items() if uid in sent}
    result.stored.extend(stored)
    result.failures.extend(
        (uid, f"refused by the server (FailureReason {reason})") for uid, reason in failed.items()
    )
    missing = set(sent) - set(stored) - set(failed)
    result.failures.extend((uid, "not acknowledged by the server") for uid in sorted(missing))


def _with_bulk_reference(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` with PixelData pointing at the JPEG part (PS3.18 F.2.6 BulkDataURI)."""
    item = dict(metadata)
    for tag in ("00080018", "0020000D", "0020000E"):
        if not item.get(tag, {}).get("Value"):
            raise DicomlabError(
                f"DICOM JSON for STOW needs tag {tag} (SOP Instance, Study and Series "
                "Instance UIDs) with a value"
            )
    item["7FE00010"] = {"vr": "OB", "BulkDataURI": BULK_LOCATION}
    return item


def build_json_jpeg_body(metadata: Mapping[str, Any], jpeg: bytes) -> tuple[bytes, str]:
    """A ``multipart/related; type="application/dicom+json"`` STOW body and its content type.

    Part 1 is the JSON array holding one instance whose PixelData is a
    ``BulkDataURI``; part 2 the baseline JPEG under that ``Content-Location``
    (SPEC §4, STOW-RS).

    >>> meta = {t: {"vr": "UI", "Value": ["1.2.3"]} for t in ("00080018", "0020000D", "0020000E")}
    >>> body, content_type = build_json_jpeg_body(meta, b"\\xff\\xd8\\xff\\xd9")
    >>> content_type.startswith('multipart/related; type="application/dicom+json"; boundary=')
    True
    >>> body.count(b"Content-Location: jpeg-image")
    1
    """
    boundary = f"dicomlab-{uuid.uuid4().hex}"
    document = json.dumps([_with_bulk_reference(metadata)]).encode()
    body = b"".join(
        [
            f"--{boundary}\r\nContent-Type: application/dicom+json\r\n\r\n".encode(),
            document,
            f"\r\n--{boundary}\r\nContent-Type: image/jpeg; transfer-syntax={JPEG_BASELINE}\r\n"
            f"Content-Location: {BULK_LOCATION}\r\n\r\n".encode(),
            jpeg,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    return body, f'multipart/related; type="application/dicom+json"; boundary={boundary}'


def dataset_from_json_jpeg(metadata: Mapping[str, Any], jpeg: bytes) -> Dataset:
    """The same instance as a Part 10 dataset with the JPEG encapsulated (for servers
    whose STOW takes only ``application/dicom``, such as Orthanc).

    >>> from PIL import Image; import io
    >>> buffer = io.BytesIO(); Image.new("L", (8, 8), 100).save(buffer, "JPEG")
    >>> meta = {t: {"vr": "UI", "Value": ["1.2.3"]} for t in ("00080018", "0020000D", "0020000E")}
    >>> ds = dataset_from_json_jpeg(meta, buffer.getvalue())
    >>> str(ds.file_meta.TransferSyntaxUID), ds.Rows, ds.pixel_array.shape
    ('1.2.840.10008.1.2.4.50', 8, (8, 8))
    """
    import io

    from PIL import Image
    from pydicom import Dataset
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, SecondaryCaptureImageStorage

    item = {k: v for k, v in _with_bulk_reference(metadata).items() if k != "7FE00010"}
    ds = Dataset.from_json(item)
    image = Image.open(io.BytesIO(jpeg))
    colour = image.mode not in ("L", "1")
    ds.setdefault("SOPClassUID", SecondaryCaptureImageStorage)
    ds.Rows, ds.Columns = image.height, image.width
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "YBR_FULL_422" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([jpeg])
    ds["PixelData"].VR = "OB"
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # A FileDataset with a preamble is written as a whole Part 10 file (with "DICM").
    return FileDataset("", ds, file_meta=meta, preamble=b"\0" * 128)
