"""A folder of DICOM Part 10 files as a store.

Search and retrieval go through dicomweb-client's ``DICOMfileClient`` (a
DICOMweb-like index of the folder, built from the files that can be read:
:mod:`dicomlab.stores.folderindex`); images are rendered locally. Files and
folders that cannot be read are left out of searches and listed in
:attr:`FolderStore.skipped`; a call about one instance whose file cannot be
read, or whose SOPInstanceUID names files with other content, raises a typed
error naming the paths.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from dicomlab.core.render import render_dataset
from dicomlab.errors import (
    DicomlabError,
    DicomReadError,
    DuplicateInstanceError,
    NotFoundError,
)
from dicomlab.stores.base import InstanceRef, MetadataItem, frame_numbers
from dicomlab.stores.bulk import index_records
from dicomlab.stores.cache import RenderCache
from dicomlab.stores.clientstore import ClientStore, as_cache
from dicomlab.stores.folderindex import FolderIndex, build_file_client
from dicomlab.stores.folderquery import query_client
from dicomlab.stores.headers import (
    DICOMDIR_SOP_CLASS,
    MAX_HEADER_BYTES,
    MAX_HEADER_ELEMENTS,
    datasets_to_json,
    parse_instance_metadata,
    read_instance_file,
    read_instance_metadata,
)
from dicomlab.stores.integrity import check_instance
from dicomlab.stores.localfiles import open_regular, remove_emptied_folders
from dicomlab.stores.paths import resource_path
from dicomlab.stores.rendered import local_render_errors
from dicomlab.stores.stow import StowResult, dataset_from_json_jpeg, record_stow, store_in_batches

if TYPE_CHECKING:
    import pandas as pd
    from dicomweb_client import DICOMfileClient
    from pydicom import Dataset

__all__ = [
    "DICOMDIR_SOP_CLASS",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_ELEMENTS",
    "FolderStore",
    "parse_instance_metadata",
    "read_instance_metadata",
]

logger = logging.getLogger(__name__)
_UID_KEYWORDS = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"})


class FolderStore(ClientStore):
    """DICOM files under ``path`` (searched recursively; hidden files ignored).

    Parameters
    ----------
    path
        The folder.
    index_dir
        Where to keep the search index; ``None`` keeps it in memory.
    cache
        A :class:`~dicomlab.stores.cache.RenderCache` (or its folder) for
        rendered thumbnails; ``None`` caches nothing.

    Examples
    --------
    >>> store = FolderStore(lab.store.path)
    >>> store.count_instances(), len(store.search_instances(PatientID="77654033"))
    (81, 7)
    """

    @property
    def thumbnail_concurrency(self) -> int:
        """Images rendered (or files copied) at once: one per CPU, at most 4.

        Decoding (the codecs), windowing (NumPy) and resizing (Pillow) a
        full-size image run mostly outside the GIL; index look-ups take
        turns (the store's lock).
        """
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, min(4, cpus or 1))

    # The index lists Rows for every instance that has pixel data.
    lists_rows = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        index_dir: Path | None = None,
        cache: RenderCache | str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise NotFoundError(
                f"store folder {str(self.path)!r} does not exist or is not a folder"
            )
        self._index_dir = index_dir
        self._listing: pd.DataFrame | None = None
        self._studies: dict[str, pd.DataFrame] | None = None
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._index = FolderIndex()
        self._client: DICOMfileClient | None = None
        # Any thread may use the store (widget callbacks, thread pools): calls into the
        # index and its caches take turns. Reading and rendering files happen outside it.
        self._lock = threading.RLock()
        self.cache = as_cache(cache)

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def __repr__(self) -> str:
        return f"FolderStore({str(self.path)!r})"

    def iter_files(self) -> Iterator[Path]:
        """Every non-hidden file below the folder, in a stable order."""
        for _, path in self.iter_paths():
            yield Path(path)

    def count_instances(self) -> int:
        return sum(1 for _ in self.iter_paths())

    def iter_paths(self) -> Iterator[tuple[str, str]]:
        """``(source, path)`` per file: the path relative to the folder, and the full path.

        Non-hidden files only, in a stable order (strings all the way: a store
        can hold millions of files). A folder that cannot be listed is given
        as a path too: reading it fails, and says so, where its files would.
        """
        top = str(self.path)
        cut = len(os.path.join(top, ""))
        unlisted: list[OSError] = []
        for root, dirs, files in os.walk(top, onerror=unlisted.append):
            yield from ((str(e.filename)[cut:], str(e.filename)) for e in unlisted)
            unlisted.clear()
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    path = os.path.join(root, name)
                    yield path[cut:], path
        yield from ((str(e.filename)[cut:], str(e.filename)) for e in unlisted)

    def iter_metadata(self) -> Iterator[MetadataItem]:
        """Each file's metadata (no pixel data), or the reason it is not an instance."""
        for source, path in self.iter_paths():
            yield read_instance_metadata(path, source)

    def iter_json(self, *, counted: Callable[[int], None] | None = None) -> Iterator[MetadataItem]:
        """Each file's metadata as DICOM JSON: see :func:`.headers.datasets_to_json`.

        ``counted``, when given, is called first with :meth:`count_instances`
        (the files to read, each handed over as an instance or a failure).
        """
        if counted is not None:
            counted(self.count_instances())
        return datasets_to_json(self.iter_metadata())

    @property
    def client(self) -> DICOMfileClient:
        """The dicomweb-client view of the folder (built on first use).

        Files and folders that cannot be read are left out, with a
        :class:`~dicomlab.errors.SkippedFilesWarning` (see :attr:`skipped`).
        Call it while holding the store's lock: its index takes one thread at a time.
        """
        with self._lock:
            if self._client is None:
                self._client, self._index = build_file_client(self.url, self.path, self._index_dir)
            return self._client

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of the files and folders the index could not read."""
        self.client  # noqa: B018 (the index is built on first use)
        return list(self._index.skipped)

    @property
    def conflicts(self) -> dict[str, list[str]]:
        """SOPInstanceUIDs found in several files with other content, with their paths."""
        self.client  # noqa: B018 (the index is built on first use)
        return {uid: list(paths) for uid, paths in self._index.conflicts.items()}

    def _indexed_name(self, ref: InstanceRef, paths: list[str], what: str, where: str) -> str:
        """The index's name for ``ref``'s file, refused when its UID names several ``paths``."""
        if paths:
            raise DuplicateInstanceError(
                f"SOPInstanceUID {ref.instance} names {len(paths)} {what} with other content "
                f"({', '.join(map(repr, paths))}): dicomlab will not guess which is meant; "
                "remove or fix all but one of them",
                uid=ref.instance,
                paths=paths,
            )
        try:
            with self._lock:
                manager = self.client._db_manager
                return str(manager.get_instance_file_path(ref.study, ref.series, ref.instance))
        except OSError as exc:  # how dicomweb-client says it has no such instance
            name = f"{ref.study}/{ref.series}/{ref.instance}"
            raise NotFoundError(f"{name} is not in {where}: {exc}") from exc

    def _instance_file(self, ref: InstanceRef) -> str:
        """The path of ``ref``'s file, checked: one file, and one that can be read.

        Raises :class:`DuplicateInstanceError` when its SOPInstanceUID names
        files with other content, :class:`DicomReadError` when its file cannot
        be opened, :class:`NotFoundError` when the store does not have it.
        """
        paths = self._index.conflicts.get(ref.instance) if self._client is not None else None
        if paths is None:
            paths = self.conflicts.get(ref.instance)
        path = self._indexed_name(ref, paths or [], "files", str(self.path))
        try:
            open_regular(path).close()
        except OSError as exc:
            raise DicomReadError(
                f"the file of instance {ref.instance}, {path!r}, could not be read: "
                f"{exc.strerror or exc}; check its permissions",
                path=path,
            ) from exc
        return path

    # ---- search -------------------------------------------------------------------------

    def _client_turn(self) -> contextlib.AbstractContextManager[Any]:
        return self._lock

    def _client_errors(
        self, resource: str, uids: Sequence[str | None]
    ) -> contextlib.AbstractContextManager[None]:
        return self._not_found(*uids)

    def _query(
        self, level: str, filters: dict[str, str], fields: Sequence[str] | None, limit: int | None
    ) -> list[dict[str, Any]]:
        with self._lock:
            return query_client(self.client, level, filters, fields, limit)

    def search_instances(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Instances matching DICOM keyword filters, e.g. ``PatientID="77654033"``.

        Lookups by UIDs alone (the grid and the viewer make many) are answered
        from one cached listing of the folder's instances.
        """
        if set(filters) == {"StudyInstanceUID"} and not fields:
            study = self._by_study().get(str(filters["StudyInstanceUID"]))
            found_study: pd.DataFrame = (
                study.copy() if study is not None else self._all_instances().head(0)
            )
            return found_study.head(limit) if limit is not None else found_study
        if filters and not fields and set(filters) <= _UID_KEYWORDS:
            every = self._all_instances()
            import pandas as pd  # not at the top: export workers must not load it

            keep = every[list(filters)].eq(pd.Series(filters)).all(axis=1)
            found: pd.DataFrame = every[keep].reset_index(drop=True)
            return found.head(limit) if limit is not None else found
        return self._search("instances", filters, fields, limit)

    def study_records(self, study: str) -> list[dict[str, Any]]:
        """A study's instances as index records (see :func:`~dicomlab.stores.bulk.index_records`).

        Kept until the store changes: grids and viewers ask for the same studies
        page after page.
        """
        with self._lock:
            if study not in self._records:
                found = self.search_instances(StudyInstanceUID=study)
                self._records[study] = index_records(found)
            return self._records[study]

    def _by_study(self) -> dict[str, pd.DataFrame]:
        """The cached listing split by study (made once per listing)."""
        with self._lock:
            return self._studies_of_listing()

    def _studies_of_listing(self) -> dict[str, pd.DataFrame]:
        if self._studies is None:
            every = self._all_instances()
            self._studies = (
                {
                    str(uid): group.reset_index(drop=True)
                    for uid, group in every.groupby("StudyInstanceUID", sort=False)
                }
                if "StudyInstanceUID" in every.columns
                else {}
            )
        return self._studies

    def _all_instances(self) -> pd.DataFrame:
        """Every instance of the index, listed once (dropped when the store changes)."""
        with self._lock:
            if self._listing is None:
                self._listing = self._search("instances", {}, None, None)
            return self._listing

    # ---- retrieve -----------------------------------------------------------------------

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        """One instance with its pixel data, checked: complete, with the UIDs asked for.

        Raises :class:`~dicomlab.errors.InstanceMismatchError` when the file found
        for the SOPInstanceUID belongs to another study or series, and
        :class:`~dicomlab.errors.DuplicateInstanceError` when the UID names files
        with other content.
        """
        path = self._instance_file(ref)
        with self._not_found(ref.study, ref.series, ref.instance, path=path):
            # Read here, not by DICOMfileClient: a file without a Part 10 header is
            # an instance too (the index lists it), and dicomweb-client refuses it.
            dataset = read_instance_file(path)
        check_instance(ref, dataset, f"the file of instance {ref.instance!r} in {self.url}")
        return dataset

    def fetch_frames(
        self,
        ref: InstanceRef,
        frames: Sequence[int] = (1,),
        *,
        media_type: str = "application/octet-stream",
    ) -> list[bytes]:
        """Frames (1-based) of an instance as stored, uncompressed by default."""
        numbers = frame_numbers(frames)
        path = self._instance_file(ref)
        try:
            with self._not_found(ref.study, ref.series, ref.instance, path=path), self._lock:
                return self.client.retrieve_instance_frames(
                    ref.study, ref.series, ref.instance, numbers, media_types=(media_type,)
                )
        except DicomReadError as exc:  # the file client answers a frame past the last as a 500
            if "exceeds number of available frames" not in str(exc.__cause__):
                raise
            count = int(self.fetch_instance(ref).get("NumberOfFrames", 1) or 1)
            past = [n for n in numbers if n > count]
            raise NotFoundError(
                f"frames {past} of instance {ref.instance} do not exist: it has {count} "
                "(fewer frames than asked for)"
            ) from exc

    def fetch_rendered(
        self,
        ref: InstanceRef,
        *,
        frame: int | None = None,
        media_type: str = "image/jpeg",
        viewport: int | tuple[int, int] | None = None,
        params: dict[str, Any] | None = None,
    ) -> bytes:
        """The instance (or one 1-based frame) rendered locally, fitted in ``viewport``."""
        size = max(viewport) if isinstance(viewport, tuple) else viewport
        options = dict(params or {})
        dataset = self.fetch_instance(ref)
        with local_render_errors(ref, dataset):
            return render_dataset(
                dataset, size=size, media_type=media_type, frame=(frame or 1) - 1, **options
            )

    def _render_thumbnail(
        self, ref: InstanceRef, size: int, media_type: str, options: dict[str, Any]
    ) -> bytes:
        dataset = self.fetch_instance(ref)
        with local_render_errors(ref, dataset):
            return render_dataset(dataset, size=size, media_type=media_type, **options)

    @contextlib.contextmanager
    def _not_found(self, *uids: str | None, path: str | None = None) -> Iterator[None]:
        """How DICOMfileClient reports an unknown resource, as a NotFoundError.

        With the instance's ``path`` known (it is in the store), a failure is
        its file's: a :class:`DicomReadError` naming it.
        """
        name = "/".join(u for u in uids if u)
        try:
            yield
        except (IndexError, ValueError, requests.HTTPError) as exc:
            if path is not None:
                raise DicomReadError(
                    f"the file of instance {name}, {path!r}, could not be read: {exc}", path=path
                ) from exc
            raise NotFoundError(f"{name} is not in {self.path}: {exc}") from exc

    # ---- store and delete ---------------------------------------------------------------

    def store_files(
        self, paths: Iterable[str | os.PathLike[str]], *, batch_size: int = 20
    ) -> StowResult:
        """Copy DICOM files into the folder (``studies/S/series/SE/instances/I``).

        Instances already in the store are left as they are (counted as
        stored, as a DICOMweb server treats a repeated STOW); unreadable files
        are failures.
        """
        return store_in_batches(paths, batch_size, self.store_datasets)

    def store_datasets(
        self, datasets: dict[str, Dataset], result: StowResult | None = None
    ) -> StowResult:
        """Store datasets keyed by SOPInstanceUID (existing instances are not rewritten)."""
        result = result if result is not None else StowResult()
        known = set(self.search_instances(fields=["SOPInstanceUID"]).get("SOPInstanceUID", []))
        new = {uid: ds for uid, ds in datasets.items() if uid not in known}
        result.stored.extend(uid for uid in datasets if uid in known)
        if new:
            try:
                with self._lock:
                    response = self.client.store_instances(list(new.values()))
            except Exception as exc:  # the file client reports any failure as one error
                result.failures.extend((uid, f"not stored: {exc}") for uid in new)
                return result
            record_stow(response, new, result)
            with self._lock:
                self._listing, self._studies, self._records = None, None, {}
        return result

    def store_json(self, metadata: Mapping[str, Any], jpeg: bytes) -> StowResult:
        """Store one instance given as DICOM JSON plus a baseline JPEG (as a Part 10 file)."""
        dataset = dataset_from_json_jpeg(metadata, jpeg)
        return self.store_datasets({str(dataset.SOPInstanceUID): dataset})

    def delete(self, study: str, series: str | None = None, instance: str | None = None) -> None:
        """Delete a study, series or instance: its files and index entries (and cached images)."""
        path = resource_path(study, series, instance)  # validates the UIDs
        filters = {"StudyInstanceUID": study}
        if series is not None:
            filters["SeriesInstanceUID"] = series
        if instance is not None:
            filters["SOPInstanceUID"] = instance
        found = self._search("instances", filters, None, None)
        if found.empty:
            raise NotFoundError(f"{path} is not in {self.path}")
        folders = self._folders_of(found)
        with self._not_found(study, series, instance), self._lock:
            if instance is not None and series is not None:
                self.client.delete_instance(study, series, instance)
            elif series is not None:
                self.client.delete_series(study, series)
            else:
                self.client.delete_study(study)
        # dicomweb-client 0.61 removes the files but not their index rows (its
        # executemany is given a string): index the folder again, which drops them.
        with self._lock:
            self._client, self._index = None, FolderIndex()
            self._listing, self._studies, self._records = None, None, {}
            remove_emptied_folders(folders, self.path)  # the files are gone: so are their folders
        if self.cache is not None:
            self.cache.discard(self.url, tuple(u for u in (study, series, instance) if u))

    def _folders_of(self, found: pd.DataFrame) -> set[Path]:
        """The folders holding the files of ``found``'s instances (those whose file is known)."""
        folders = set()
        for uids in found[["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]].itertuples(
            index=False
        ):
            with contextlib.suppress(DicomlabError):
                folders.add(Path(self.path, self._instance_file(InstanceRef(*uids))).parent)
        return folders
