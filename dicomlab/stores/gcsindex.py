"""The search index of a gs:// store: dicomweb-client's, fed with headers read from Cloud Storage.

The folder store's index (:mod:`dicomlab.stores.folderindex`) reads its
files itself; here the headers arrive already read (by ranged reads, in
parallel: :mod:`dicomlab.stores.gcsread`) and are indexed the same way, by
the same ``DICOMfileClient`` tables, so searches answer as on a folder.
Each instance's "file path" is its object's full name. A SOPInstanceUID
found in objects with other content (another size or CRC32C) is listed in
:attr:`~dicomlab.stores.folderindex.FolderIndex.conflicts`; objects that
could not be read are in ``skipped``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dicomlab.errors import SkippedFilesWarning
from dicomlab.stores.folderindex import FolderIndex, GuardedIndex
from dicomlab.stores.headers import complete_file_meta

if TYPE_CHECKING:
    from dicomweb_client import DICOMfileClient
    from pydicom import Dataset

    from dicomlab.stores.gcsread import ObjectInfo

__all__ = ["build_object_client"]


def build_object_client(
    url: str, headers: Iterable[tuple[ObjectInfo, Dataset | None, str | None, bool]]
) -> tuple[DICOMfileClient, FolderIndex]:
    """A read-only ``DICOMfileClient`` whose index holds ``headers``, and what it left out.

    ``headers`` gives ``(object, dataset or None, error or None, transport)``
    per object: objects that could not be read (``transport``) are skipped
    with a :class:`~dicomlab.errors.SkippedFilesWarning`; objects that are not
    DICOM are left out, as a folder's are.
    """
    from dicomweb_client import DICOMfileClient

    report = FolderIndex()
    client: DICOMfileClient = DICOMfileClient.__new__(DICOMfileClient)
    client.base_url, client.scheme, client.protocol = url, "gs", None
    client.url_prefix = url
    client.qido_url_prefix = client.wado_url_prefix = None
    client.stow_url_prefix = client.delete_url_prefix = None
    client._readonly = True
    index = ObjectIndex(url="file:///", db_dir=None, update_db=False, in_memory=True, report=report)
    index.index_headers(headers)
    client._db_manager = index
    if report.skipped:
        shown = "; ".join(f"{name}: {why}" for name, why in report.skipped[:5])
        warnings.warn(
            f"{len(report.skipped)} objects of {url} could not be read and are left out of "
            f"its searches ({shown}); see the store's `skipped`",
            SkippedFilesWarning,
            stacklevel=3,
        )
    return client, report


class ObjectIndex(GuardedIndex):
    """The guarded index, filled from headers already read instead of by walking a folder."""

    _report: FolderIndex

    def _update_db(self) -> None:
        """Nothing to walk: headers are handed to :meth:`index_headers`."""

    # An object's full name, not a local Path: the store reads it from the bucket.
    def get_instance_file_path(self, study: str, series: str, instance: str) -> str:  # type: ignore[override]
        self._cursor.execute(
            "SELECT _file_path FROM instances WHERE StudyInstanceUID = ? "
            "AND SeriesInstanceUID = ? AND SOPInstanceUID = ?",
            (study, series, instance),
        )
        row = self._cursor.fetchone()
        if row is None:
            raise OSError(f"no instance {instance} of series {series} in study {study}")
        return str(row[0])

    def index_headers(self, headers: Iterable[tuple[ObjectInfo, Any, str | None, bool]]) -> None:
        import numpy as np

        rows: dict[str, tuple[Any, ...]] = {}
        studies: dict[str, Any] = {}
        series: dict[str, Any] = {}
        first: dict[str, ObjectInfo] = {}
        for info, ds, error, transport in headers:
            if ds is None:
                if transport:
                    self._report.skipped.append((info.name, str(error)))
                continue
            ds = complete_file_meta(ds)
            if "SOPClassUID" not in ds:
                continue
            uid = str(ds.SOPInstanceUID)
            if uid in first:
                self._note(uid, first[uid], info)
                continue
            first[uid] = info
            studies[str(ds.StudyInstanceUID)] = self._extract_study_metadata(ds)
            series[str(ds.SeriesInstanceUID)] = self._extract_series_metadata(ds)
            instance = self._extract_instance_metadata(ds)
            syntax = str(ds.file_meta.TransferSyntaxUID)
            # No frame offsets: frames are taken from the whole object when asked for.
            table = np.zeros((0,), dtype=np.uint32)
            rows[uid] = (*instance, syntax, info.name, -1, table)
            if len(rows) >= 1000:  # in batches, as dicomweb-client does
                self._insert_into_db(studies.values(), series.values(), rows.values())
                rows, studies, series = {}, {}, {}
        self._insert_into_db(studies.values(), series.values(), rows.values())

    def _note(self, uid: str, first: ObjectInfo, other: ObjectInfo) -> None:
        if (first.size, first.crc32c) == (other.size, other.crc32c) and first.crc32c:
            return  # a copy: one instance
        self._report.conflicts.setdefault(uid, [first.name]).append(other.name)
