"""The store protocol every backend (local folder, DICOMweb server) implements."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pandas as pd
    from pydicom import Dataset

__all__ = ["FileStore", "InstanceRef", "MetadataItem", "Store", "frame_numbers"]


def frame_numbers(frames: Sequence[int]) -> list[int]:
    """Frame numbers checked: 1-based, at least one.

    >>> frame_numbers((1, 3))
    [1, 3]
    """
    from dicomlab.errors import InvalidIdentifierError

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


@runtime_checkable
class Store(Protocol):
    """What dicomlab needs of a DICOM store."""

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

    def search_instances(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Instances matching keyword filters, one row each, keyword columns."""
        ...

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        """One instance, pixel data included."""
        ...

    def fetch_thumbnail(
        self, ref: InstanceRef, *, size: int = 128, media_type: str = "image/png"
    ) -> bytes:
        """A rendered, windowed image of the instance's first frame."""
        ...


@runtime_checkable
class FileStore(Protocol):
    """A store whose instances are local files that worker processes can open themselves.

    Export reads such stores in parallel: each worker opens the files with
    :func:`dicomlab.stores.headers.read_instance_metadata`. Stores that cannot
    hand out paths (DICOMweb servers) are read through :meth:`Store.iter_metadata`.
    """

    def iter_paths(self) -> Iterator[tuple[str, str]]:
        """``(source, path)`` for every candidate file: ``source`` names it in reports."""
        ...
