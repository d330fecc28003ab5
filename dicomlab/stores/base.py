"""The store protocol every backend (local folder, DICOMweb server, Google) implements.

:class:`Store` declares the whole surface callers use, capabilities included
(``thumbnail_concurrency``, ``cache``, ``lists_rows``, ``study_records``,
``healthcare_access``): callers never probe a store for a member. A store
that cannot do something still has the member and raises a typed error
saying so. Export reads through the narrower :class:`MetadataSource`,
:class:`JsonSource` and :class:`FileStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dicomlab.errors import InvalidIdentifierError

if TYPE_CHECKING:
    import os

    import pandas as pd
    import requests
    from pydicom import Dataset

    from dicomlab.stores.cache import RenderCache
    from dicomlab.stores.download import DownloadResult
    from dicomlab.stores.stow import StowResult

__all__ = [
    "FileStore",
    "HealthcareAccess",
    "InstanceRef",
    "JsonSource",
    "MetadataItem",
    "MetadataSource",
    "Store",
    "frame_numbers",
]


def frame_numbers(frames: Sequence[int]) -> list[int]:
    """Frame numbers checked: 1-based, at least one.

    >>> frame_numbers((1, 3))
    [1, 3]
    """
    if isinstance(frames, (int, str, bytes)):  # one number where a list is due
        raise InvalidIdentifierError(f"frames is a list of 1-based frame numbers, such as [1]: "
                                     f"not {frames!r}")  # fmt: skip
    numbers = [int(f) for f in frames]
    if not numbers or any(n < 1 for n in numbers):
        raise InvalidIdentifierError(f"frame numbers are 1-based and at least one: {frames!r}")
    return numbers


@dataclass(frozen=True)
class InstanceRef:
    """The three UIDs that address one instance."""

    study: str
    series: str
    instance: str


@dataclass(frozen=True)
class MetadataItem:
    """One instance's metadata read for export, or why it could not be read.

    The metadata is a pydicom ``dataset``, or ``json`` (DICOM JSON, PS3.18 F.2)
    from stores that receive it so (DICOMweb): export flattens either.
    ``transport`` tells why an ``error`` item has no metadata: ``True`` when
    the store could not be read (a connection or server failure, a file that
    cannot be opened), ``False`` when the item itself is not a valid instance.
    """

    source: str
    dataset: Dataset | None = None
    error: str | None = None
    json: Mapping[str, Any] | None = None
    transport: bool = False


@dataclass(frozen=True)
class HealthcareAccess:
    """What the Cloud Healthcare API's admin calls need of a Google DICOM store.

    ``session`` authenticates; ``api_root`` is ``https://…/v1`` (or ``v1beta1``);
    ``name`` is ``projects/P/locations/L/datasets/D/dicomStores/S``.
    """

    session: requests.Session
    api_root: str
    name: str


@runtime_checkable
class MetadataSource(Protocol):
    """What export reads: a store's address, its size, and every instance's metadata."""

    @property
    def url(self) -> str:
        """Where the store is (``file://…``, ``http://…/dicom-web``, …)."""
        ...

    def count_instances(self) -> int:
        """How many instances (or candidate files) the store holds."""
        ...

    def iter_metadata(self) -> Iterator[MetadataItem]:
        """Every instance's metadata, without pixel data, for export."""
        ...


@runtime_checkable
class JsonSource(MetadataSource, Protocol):
    """A source that can hand over DICOM JSON as it received it (no Dataset round trip)."""

    def iter_json(self, *, counted: Callable[[int], None] | None = None) -> Iterator[MetadataItem]:
        """Every instance's metadata as DICOM JSON (``MetadataItem.json``).

        ``counted``, if the source learns how many instances it will hand over
        while it reads (a server's series listing), is called once with that
        number; a source that cannot tell does not call it.
        """
        ...


@runtime_checkable
class FileStore(MetadataSource, Protocol):
    """A store whose instances are local files that worker processes can open themselves.

    Export reads such stores in parallel: each worker opens the files with
    :func:`dicomlab.stores.headers.read_instance_metadata`. Stores that cannot
    hand out paths (DICOMweb servers) are read through :meth:`Store.iter_json`.
    """

    def iter_paths(self) -> Iterator[tuple[str, str]]:
        """``(source, path)`` for every candidate file: ``source`` names it in reports."""
        ...


@runtime_checkable
class Store(JsonSource, Protocol):
    """Everything dicomlab does with a DICOM store; every store has every member.

    Attributes
    ----------
    cache
        Where rendered thumbnails are kept (``None``: nowhere).
    thumbnail_concurrency
        Requests in flight at once for bulk retrieval (``1``: all in the caller's thread).
    lists_rows
        Whether instance searches list ``Rows`` for every instance that has
        pixel data (so a missing ``Rows`` means no image).
    """

    cache: RenderCache | None

    @property
    def thumbnail_concurrency(self) -> int: ...

    @property
    def lists_rows(self) -> bool: ...

    def healthcare_access(self) -> HealthcareAccess | None:
        """How to reach the store's Cloud Healthcare API admin calls (``None``: not Google)."""
        ...

    # ---- search ----

    def search_studies(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Studies matching keyword filters, one row each, keyword columns."""
        ...

    def search_series(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Series matching keyword filters."""
        ...

    def search_instances(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Instances matching keyword filters."""
        ...

    def study_records(self, study: str) -> list[dict[str, Any]]:
        """A study's instances as index records, by series then ``InstanceNumber``."""
        ...

    # ---- retrieve ----

    def fetch_metadata(
        self, study: str, series: str | None = None, instance: str | None = None
    ) -> list[dict[str, Any]]:
        """DICOM JSON of a study's, a series' or one instance's instances (no bulk data)."""
        ...

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        """One instance, pixel data included, checked."""
        ...

    def fetch_frames(
        self,
        ref: InstanceRef,
        frames: Sequence[int] = (1,),
        *,
        media_type: str = "application/octet-stream",
    ) -> list[bytes]:
        """Frames (1-based) of an instance."""
        ...

    def fetch_rendered(
        self,
        ref: InstanceRef,
        *,
        frame: int | None = None,
        media_type: str = "image/jpeg",
        viewport: int | tuple[int, int] | None = None,
        params: dict[str, Any] | None = None,
    ) -> bytes:
        """A rendering of the instance (or one frame)."""
        ...

    def fetch_thumbnail(
        self, ref: InstanceRef, *, size: int = 128, media_type: str = "image/png", **options: Any
    ) -> bytes:
        """A rendered, windowed image of the instance's first frame."""
        ...

    def fetch_thumbnails(
        self,
        df: pd.DataFrame,
        *,
        size: int = 256,
        media_type: str = "image/jpeg",
        workers: int | None = None,
        progress: bool = True,
        placeholder: bool = True,
    ) -> list[bytes | None]:
        """One thumbnail per row of ``df``, in row order."""
        ...

    def download(
        self,
        df: pd.DataFrame,
        folder: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        workers: int | None = None,
        progress: bool = True,
    ) -> DownloadResult:
        """Save the instances the rows name under ``folder``, checked."""
        ...

    # ---- store and delete ----

    def store_files(
        self, paths: Iterable[str | os.PathLike[str]], *, batch_size: int = 20
    ) -> StowResult:
        """Store DICOM files (STOW-RS, or a copy into the folder)."""
        ...

    def store_datasets(
        self, datasets: dict[str, Dataset], result: StowResult | None = None
    ) -> StowResult:
        """Store datasets keyed by SOPInstanceUID."""
        ...

    def store_json(self, metadata: Mapping[str, Any], jpeg: bytes) -> StowResult:
        """Store one instance given as DICOM JSON plus a baseline JPEG image."""
        ...

    def delete(self, study: str, series: str | None = None, instance: str | None = None) -> None:
        """Delete a study, a series or an instance."""
        ...
