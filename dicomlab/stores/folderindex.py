"""The folder store's search index: dicomweb-client's, built only from files that can be read.

dicomweb-client's ``DICOMfileClient`` indexes a folder by opening every file
below it: one file it may not open stops every search with a raw
``PermissionError``, a FIFO could make it wait for ever, a folder it may not
list is passed over in silence, and of two files with one SOPInstanceUID the
last one found wins without a word. :func:`build_file_client` gives it the
files of the store's own listing instead (regular files only, hidden ones
left out, as the export reads them) and indexes them here, so that:

- a file or folder that cannot be read is left out and listed in
  :attr:`FolderIndex.skipped` (``(path, reason)``), with a
  :class:`~dicomlab.errors.SkippedFilesWarning`;
- a file that opens but is not DICOM is left out, as dicomweb-client does;
- a SOPInstanceUID found in files with other content is listed in
  :attr:`FolderIndex.conflicts` with every such path (copies with the same
  bytes count as one): the store refuses to guess which file it means;
- headers are read within the bounds of :func:`~dicomlab.stores.headers.parse_instance_metadata`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomweb_client import DICOMfileClient
from dicomweb_client.file import _DatabaseManager, _get_frame_offsets

from dicomlab.core.ledger import same_bytes
from dicomlab.errors import DicomReadError, SkippedFilesWarning
from dicomlab.rows.flatten import MAX_VALUE_BYTES
from dicomlab.stores.headers import complete_file_meta, header_bounds
from dicomlab.stores.localfiles import open_regular

__all__ = ["FolderIndex", "build_file_client", "walk_files"]

logger = logging.getLogger(__name__)


@dataclass
class FolderIndex:
    """What indexing a folder left out, and the UIDs it found in several different files."""

    skipped: list[tuple[str, str]] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)


def walk_files(top: str, skipped: list[tuple[str, str]] | None = None) -> Iterator[str]:
    """Every non-hidden file path below ``top``, in a stable order.

    A folder that cannot be listed is added to ``skipped`` with the reason
    (when given) rather than passed over in silence.
    """

    def onerror(exc: OSError) -> None:
        if skipped is not None:
            skipped.append((str(exc.filename), f"folder could not be listed: {exc.strerror}"))

    for root, dirs, files in os.walk(top, onerror=onerror):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def build_file_client(
    url: str, folder: Path, index_dir: Path | None
) -> tuple[DICOMfileClient, FolderIndex]:
    """A ``DICOMfileClient`` of ``folder`` indexed as this module says, and what it left out."""
    report = FolderIndex()
    if index_dir is not None:
        index_dir.mkdir(parents=True, exist_ok=True)
    # DICOMfileClient.__init__ (dicomweb-client 0.61) indexes the folder itself: its
    # attributes are set here instead, around the guarded index.
    client: DICOMfileClient = DICOMfileClient.__new__(DICOMfileClient)
    client.base_url, client.scheme, client.protocol = url, "file", None
    client.url_prefix = str(folder)
    client.qido_url_prefix = client.wado_url_prefix = None
    client.stow_url_prefix = client.delete_url_prefix = None
    client._readonly = False
    client._db_manager = GuardedIndex(
        url=url,
        db_dir=index_dir or folder,
        update_db=True,
        in_memory=index_dir is None,
        report=report,
    )
    if report.skipped:
        shown = "; ".join(f"{path}: {why}" for path, why in report.skipped[:5])
        warnings.warn(
            f"{len(report.skipped)} files or folders of {folder} could not be read and are "
            f"left out of its searches ({shown}); see the store's `skipped`",
            SkippedFilesWarning,
            stacklevel=3,
        )
    return client, report


class GuardedIndex(_DatabaseManager):
    """dicomweb-client's index (``_DatabaseManager``) with the guarded indexing of this module."""

    _db_connection_handle: Any  # dicomweb-client's, set in its __init__

    def __init__(self, *args: Any, report: FolderIndex, **kwargs: Any) -> None:
        self._report = report
        super().__init__(*args, **kwargs)

    @property
    def _connection(self) -> Any:
        """The index's SQLite connection, usable from any thread.

        dicomweb-client's is bound to the thread that opened it, so a widget
        callback or a thread pool got "SQLite objects created in a thread
        can only be used in that same thread". The store calls its client
        one thread at a time (its lock), which is what SQLite needs.
        """
        import sqlite3

        if self._db_connection_handle is None:
            connection = sqlite3.connect(
                str(self._db_file_identifier),
                detect_types=sqlite3.PARSE_DECLTYPES,
                check_same_thread=False,
            )
            connection.row_factory = sqlite3.Row
            self._db_connection_handle = connection
        # The base property registers the array adapters and returns this handle.
        return vars(_DatabaseManager)["_connection"].fget(self)

    def _read_selected_metadata(self, fp: Any) -> Any:
        from pydicom.filereader import read_partial

        tags = [
            tag
            for attrs in self._attributes.values()
            for tag in (_tag(keyword) for keyword in attrs)
            if tag is not None
        ]
        return read_partial(
            fp, header_bounds(), defer_size=MAX_VALUE_BYTES, force=True, specific_tags=tags
        )

    def _update_db(self) -> None:
        # Every file is read again, even in a kept index (index_dir): one changed since
        # is then seen as it is, and a UID is checked against every file that has it.
        self._cursor.execute("SELECT _file_path FROM instances")
        indexed = {row[0] for row in self._cursor.fetchall()}
        found: set[str] = set()
        rows: dict[str, tuple[Any, ...]] = {}
        studies: dict[str, Any] = {}
        series: dict[str, Any] = {}
        first_path: dict[str, str] = {}
        for name in walk_files(str(self.base_dir), self._report.skipped):
            if len(rows) >= 1000:  # in batches, as dicomweb-client does
                self._insert_into_db(studies.values(), series.values(), rows.values())
                rows, studies, series = {}, {}, {}
            path = Path(name)
            if path.name == "DICOMDIR":
                continue
            relative = path.relative_to(self.base_dir)
            found.add(str(relative))
            entry = self._entry(path, relative)
            if entry is None:
                continue
            uids, study, one_series, instance = entry
            uid = uids[2]
            if uid in first_path:
                self._note_duplicate(uid, first_path[uid], name)
                continue
            first_path[uid] = name
            studies[uids[0]], series[uids[1]], rows[uid] = study, one_series, instance
        self._insert_into_db(studies.values(), series.values(), rows.values())
        self._forget(sorted(indexed - found))

    def _forget(self, gone: list[str]) -> None:
        """Drop the index rows of files gone since (a kept index).

        dicomweb-client 0.61's own clean-up compares absolute paths with the
        relative ones it stores, and its delete is given strings: neither works.
        """
        if not gone:
            return
        with self._connection as connection:
            connection.executemany(
                "DELETE FROM instances WHERE _file_path = ?", [(p,) for p in gone]
            )
            connection.execute(
                "DELETE FROM series WHERE SeriesInstanceUID NOT IN "
                "(SELECT SeriesInstanceUID FROM instances)"
            )
            connection.execute(
                "DELETE FROM studies WHERE StudyInstanceUID NOT IN "
                "(SELECT StudyInstanceUID FROM instances)"
            )

    def _note_duplicate(self, uid: str, first: str, other: str) -> None:
        if same_bytes(first, other):
            return  # a copy: one instance
        paths = self._report.conflicts.setdefault(uid, [first])
        paths.append(other)

    def _entry(self, path: Path, relative: Path) -> tuple[tuple[str, ...], Any, Any, Any] | None:
        """The index rows of one file, or ``None`` (reported when it cannot be read)."""
        try:
            handle = open_regular(path)
        except DicomReadError as exc:
            self._report.skipped.append((str(path), str(exc)))
            return None
        except OSError as exc:
            self._report.skipped.append((str(path), f"could not be opened: {exc.strerror}"))
            return None
        with handle:
            try:
                return self._rows(handle, relative)
            except OSError as exc:
                if exc.errno is None:  # pydicom's own: not a DICOM file
                    return None
                self._report.skipped.append((str(path), f"could not be read: {exc}"))
            except Exception as exc:  # not DICOM, or damaged: not an instance to search
                logger.debug("not indexed: %s (%s)", path, exc)
        return None

    def _rows(self, handle: Any, relative: Path) -> tuple[tuple[str, ...], Any, Any, Any] | None:
        ds = complete_file_meta(self._read_selected_metadata(handle))  # headerless too
        if not hasattr(ds, "SOPClassUID"):
            return None
        uids = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
        study = self._extract_study_metadata(ds)
        one_series = self._extract_series_metadata(ds)
        instance = self._extract_instance_metadata(ds)
        syntax = ds.file_meta.TransferSyntaxUID
        offset, table = -1, None
        if hasattr(ds, "Rows") and hasattr(ds, "Columns"):
            offset, table = _get_frame_offsets(
                fp=self._get_file_pointer(handle, transfer_syntax_uid=syntax),
                number_of_frames=int(getattr(ds, "NumberOfFrames", "1")),
                number_of_pixels_per_frame=int(ds.Rows * ds.Columns * ds.SamplesPerPixel),
                transfer_syntax_uid=syntax,
                bits_allocated=ds.BitsAllocated,
            )
        if table is None:
            import numpy as np

            table = np.zeros((0,), dtype=np.uint32)
        return uids, study, one_series, (*instance, str(syntax), str(relative), offset, table)


def _tag(keyword: str) -> int | None:
    from pydicom.datadict import tag_for_keyword

    tag: int | None = tag_for_keyword(keyword)
    return tag
