"""DICOM files in a Cloud Storage bucket (``gs://BUCKET/PREFIX``) as a read-only store.

Any object under the prefix is a candidate, whatever its name; an object that
is not DICOM is reported (export failures, :attr:`GcsFileStore.skipped`),
never fatal. The listing pages through the bucket. Metadata (export, search
index) is read header only, with ranged reads that start small and go on
only while the header does (:mod:`dicomlab.stores.gcsread`), many objects at
a time on a thread pool; pixel data is never fetched for it. Thumbnails,
frames and downloads fetch whole objects, on demand.

Search is the folder store's (:class:`~dicomlab.stores.folder.FolderStore`):
the same ``DICOMfileClient`` index, built from the headers on first use
(:mod:`dicomlab.stores.gcsindex`).

Credentials come from google-auth's Application Default Credentials; a
public bucket (IDC's collections) is read with ``anonymous=True``, or
``connect(store="gs://BUCKET/PREFIX?anonymous=true")``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from dicomlab.core.resources import GcsUri
from dicomlab.errors import (
    DicomReadError,
    NotFoundError,
    UnsupportedBackendError,
)
from dicomlab.stores.base import InstanceRef, MetadataItem, frame_numbers
from dicomlab.stores.cache import RenderCache
from dicomlab.stores.folder import FolderStore
from dicomlab.stores.folderindex import FolderIndex
from dicomlab.stores.gcsframes import frames_of
from dicomlab.stores.gcsindex import build_object_client
from dicomlab.stores.gcsread import (
    DEFAULT,
    FIRST_READ_BYTES,
    ObjectInfo,
    list_objects,
    read_object_header,
    storage_client,
    translated,
)
from dicomlab.stores.headers import complete_file_meta
from dicomlab.stores.integrity import check_instance

if TYPE_CHECKING:
    from dicomweb_client import DICOMfileClient
    from pydicom import Dataset

    from dicomlab.stores.stow import StowResult

__all__ = ["DEFAULT_READERS", "GcsFileStore", "parse_store_uri"]

#: Objects whose headers are read at a time (network-bound: threads, not processes), as many
#: as the HTTP connections google-cloud-storage keeps per host (urllib3's default pool, 10).
DEFAULT_READERS = 10


def parse_store_uri(uri: str) -> tuple[GcsUri, bool]:
    """``gs://BUCKET[/PREFIX][?anonymous=true]``: the folder's URI, and whether to read anonymously.

    >>> parse_store_uri("gs://idc-open-data/cr?anonymous=true")
    (GcsUri(bucket='idc-open-data', object_name='cr'), True)
    """
    text, _, query = uri.partition("?")
    options = dict(part.partition("=")[::2] for part in query.split("&") if part)
    unknown = set(options) - {"anonymous"}
    flag = options.get("anonymous", "false").lower()
    if unknown or flag not in ("true", "false", "1", "0"):
        raise UnsupportedBackendError(
            f"store {uri!r}: the only option a gs:// store takes is ?anonymous=true "
            "(read a public bucket without credentials)"
        )
    parsed = GcsUri.parse(text)
    return GcsUri(parsed.bucket, parsed.object_name.strip("/")), flag in ("true", "1")


class GcsFileStore(FolderStore):
    """The DICOM files under ``gs://BUCKET/PREFIX`` (every object below it), read-only.

    Parameters
    ----------
    uri
        ``gs://BUCKET`` or ``gs://BUCKET/PREFIX``.
    client
        A ``google.cloud.storage.Client``; by default one is made on first use
        (Application Default Credentials, or anonymous with ``anonymous``).
    anonymous
        Read a public bucket without credentials.
    readers
        Objects read at a time for metadata.
    first_read
        Bytes of the first ranged read of each header.
    retry
        A ``google.api_core.retry.Retry`` for every read (``None``: no retries); by
        default the client's (transient failures retried for up to 120 s).
    cache
        A :class:`~dicomlab.stores.cache.RenderCache` (or its folder) for thumbnails.

    Examples
    --------
    >>> store = GcsFileStore("gs://idc-open-data/some/prefix", anonymous=True)
    >>> store.url
    'gs://idc-open-data/some/prefix'
    >>> store.search_instances(Modality="CT")  # doctest: +SKIP
    """

    thumbnail_concurrency = 8

    def __init__(
        self,
        uri: str | GcsUri,
        *,
        client: Any = None,
        anonymous: bool = False,
        readers: int = DEFAULT_READERS,
        first_read: int = FIRST_READ_BYTES,
        retry: Any = DEFAULT,
        cache: RenderCache | str | os.PathLike[str] | None = None,
    ) -> None:
        parsed, from_uri = parse_store_uri(str(uri))
        self.uri = parsed
        self.anonymous = anonymous or from_uri
        self.readers = max(1, int(readers))
        self.first_read = max(1, int(first_read))
        self.retry = retry
        self._storage = client
        self._objects: list[ObjectInfo] | None = None
        self._listing = None
        self._studies = None
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._index = FolderIndex()
        self._client: DICOMfileClient | None = None
        self._lock = threading.RLock()
        self.cache = RenderCache(cache) if isinstance(cache, (str, os.PathLike)) else cache

    @property
    def url(self) -> str:
        return str(self.uri)

    def __repr__(self) -> str:
        return f"GcsFileStore({self.url!r})"

    @property
    def storage(self) -> Any:
        """The ``google.cloud.storage.Client`` (made on first use if none was given)."""
        if self._storage is None:
            self._storage = storage_client(anonymous=self.anonymous)
        return self._storage

    @property
    def _prefix(self) -> str:
        return f"{self.uri.object_name}/" if self.uri.object_name else ""

    # ---- listing and headers -------------------------------------------------------------

    def objects(self) -> list[ObjectInfo]:
        """Every object under the prefix (listed once, page by page, then kept)."""
        with self._lock:
            if self._objects is None:
                self._objects = list(list_objects(self.storage, self.uri.bucket, self._prefix))
            return self._objects

    def count_instances(self) -> int:
        return len(self.objects())

    # No local files for worker processes to open: not a FileStore (a protocol member set
    # to None is one the class does not have), so export reads through iter_metadata().
    iter_paths = None  # type: ignore[assignment]
    iter_files = None  # type: ignore[assignment]

    def iter_metadata(self) -> Iterator[MetadataItem]:
        """Each object's metadata (no pixel data) in listing order, read ``readers`` at a time."""
        for _, item in self._read_headers(self.objects()):
            yield item

    def _read_headers(
        self, objects: Iterable[ObjectInfo]
    ) -> Iterator[tuple[ObjectInfo, MetadataItem]]:
        """``(object, item)`` in order, with at most ``2 * readers`` reads in flight."""

        def one(info: ObjectInfo) -> tuple[ObjectInfo, MetadataItem]:
            item, _ = read_object_header(
                self.storage, self.uri.bucket, info, first=self.first_read, retry=self.retry
            )
            return info, item

        self.storage  # noqa: B018 (made once, before the threads share it)
        window: list[Future[tuple[ObjectInfo, MetadataItem]]] = []
        with ThreadPoolExecutor(self.readers, thread_name_prefix="gcs-headers") as pool:
            for info in objects:
                window.append(pool.submit(one, info))
                if len(window) >= 2 * self.readers:
                    yield window.pop(0).result()
            while window:
                yield window.pop(0).result()

    @property
    def client(self) -> DICOMfileClient:
        """The read-only dicomweb-client index of the objects' headers (built on first use)."""
        with self._lock:
            if self._client is None:
                headers = (
                    (info, item.dataset, item.error, item.transport)
                    for info, item in self._read_headers(self.objects())
                )
                self._client, self._index = build_object_client(self.url, headers)
            return self._client

    # ---- retrieve ------------------------------------------------------------------------

    def _instance_file(self, ref: InstanceRef) -> str:
        """The full name of ``ref``'s object (checked: one object has it)."""
        return self._indexed_name(ref, self.conflicts.get(ref.instance) or [], "objects", self.url)

    def _download(self, name: str) -> bytes:
        uri = f"gs://{self.uri.bucket}/{name}"
        options = {} if self.retry is DEFAULT else {"retry": self.retry}
        with translated(uri):
            blob = self.storage.bucket(self.uri.bucket).blob(name)
            data: bytes = blob.download_as_bytes(**options)
        return data

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        """One instance, its whole object fetched, checked: complete, with the UIDs asked for."""
        import io

        import pydicom

        name = self._instance_file(ref)
        data = self._download(name)
        uri = f"gs://{self.uri.bucket}/{name}"
        try:
            dataset = complete_file_meta(pydicom.dcmread(io.BytesIO(data), force=True))
        except Exception as exc:
            raise DicomReadError(
                f"the object of instance {ref.instance}, {uri!r}, could not be read: {exc}",
                path=uri,
            ) from exc
        check_instance(ref, dataset, f"the object of instance {ref.instance!r} in {self.url}")
        return dataset

    def fetch_metadata(
        self, study: str, series: str | None = None, instance: str | None = None
    ) -> list[dict[str, Any]]:
        """DICOM JSON of a study's, a series' or one instance's instances (headers only)."""
        filters = {"StudyInstanceUID": study}
        if series is not None:
            filters["SeriesInstanceUID"] = series
        if instance is not None:
            filters["SOPInstanceUID"] = instance
        found = self.search_instances(None, None, **filters)
        if found.empty:
            raise NotFoundError(f"{'/'.join(filters.values())} is not in {self.url}")
        names = [self._instance_file(_ref(row)) for _, row in found.iterrows()]
        sizes = {info.name: info for info in self.objects()}
        items = [item for _, item in self._read_headers(sizes[n] for n in names)]
        return [_to_json(item) for item in items]

    def fetch_frames(
        self,
        ref: InstanceRef,
        frames: Sequence[int] = (1,),
        *,
        media_type: str = "application/octet-stream",
    ) -> list[bytes]:
        """Frames (1-based) of an instance: uncompressed by default, or as stored."""
        numbers = frame_numbers(frames)
        return frames_of(self.fetch_instance(ref), numbers, media_type)

    # ---- read-only -----------------------------------------------------------------------

    def _read_only(self) -> UnsupportedBackendError:
        return UnsupportedBackendError(
            f"{self.url} is a read-only store (DICOM files in Cloud Storage); copy the "
            "instances into a folder or DICOMweb store to change them"
        )

    def store_files(self, paths: Iterable[Any], *, batch_size: int = 20) -> StowResult:
        raise self._read_only()

    def store_datasets(self, datasets: dict[str, Dataset], result: Any = None) -> StowResult:
        raise self._read_only()

    def store_json(self, metadata: Any, jpeg: bytes) -> StowResult:
        raise self._read_only()

    def delete(self, study: str, series: str | None = None, instance: str | None = None) -> None:
        raise self._read_only()

    @contextlib.contextmanager
    def _not_found(self, *uids: str | None, path: str | None = None) -> Iterator[None]:
        yield


def _ref(row: Any) -> InstanceRef:
    return InstanceRef(
        str(row["StudyInstanceUID"]), str(row["SeriesInstanceUID"]), str(row["SOPInstanceUID"])
    )


def _to_json(item: MetadataItem) -> dict[str, Any]:
    """An item's DICOM JSON, large values as BulkDataURIs to its object (never inlined)."""
    if item.dataset is None:
        raise DicomReadError(f"{item.source} could not be read: {item.error}", path=item.source)

    def bulk(element: Any) -> str:
        return f"{item.source}#{element.tag:08X}"

    json: dict[str, Any] = item.dataset.to_json_dict(
        bulk_data_threshold=1024, bulk_data_element_handler=bulk
    )
    return json
