"""A folder of DICOM Part 10 files as a store.

Search and retrieval go through dicomweb-client's ``DICOMfileClient`` (a
DICOMweb-like index of the folder); images are rendered locally.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomlab.errors import NotFoundError
from dicomlab.stores.base import InstanceRef, MetadataItem

if TYPE_CHECKING:
    import pandas as pd
    from dicomweb_client import DICOMfileClient
    from pydicom import Dataset

__all__ = ["DICOMDIR_SOP_CLASS", "FolderStore", "read_instance_metadata"]

logger = logging.getLogger(__name__)
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"


def read_instance_metadata(path: str | os.PathLike[str], source: str) -> MetadataItem:
    """Read one file's metadata (no pixel data), or say why it is not an instance.

    Never raises for a bad file: a file that is not DICOM, is truncated, is a
    DICOMDIR or has no SOPInstanceUID comes back with ``error`` set.

    Examples
    --------
    >>> read_instance_metadata("/no/such/file.dcm", "file.dcm").error
    "not readable as DICOM: [Errno 2] No such file or directory: '/no/such/file.dcm'"
    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError) as exc:
        # pydicom's hint to pass force=True names an option our callers do not have.
        reason = str(exc).split(" Use force=True")[0]
        return MetadataItem(source, error=f"not readable as DICOM: {reason}")
    except Exception as exc:  # a malformed file must never stop an export
        logger.debug("reading %s failed", path, exc_info=True)
        return MetadataItem(source, error=f"not readable as DICOM: {type(exc).__name__}: {exc}")
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("MediaStorageSOPClassUID") == DICOMDIR_SOP_CLASS:
        return MetadataItem(source, error="a DICOMDIR (file-set index), not an instance")
    if "SOPInstanceUID" not in ds:
        return MetadataItem(
            source, error="has no SOPInstanceUID: truncated, or not a DICOM instance"
        )
    return MetadataItem(source, dataset=ds)


_DATE_RANGE = re.compile(r"(\d{8})?-(\d{8})?")


def _split_date_ranges(
    filters: dict[str, str],
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Separate ``YYYYMMDD-YYYYMMDD`` range filters on DA keywords from exact ones."""
    exact, ranges = {}, {}
    for keyword, value in filters.items():
        match = _DATE_RANGE.fullmatch(str(value))
        if match and keyword.endswith("Date") and value != "-":
            ranges[keyword] = (match.group(1) or "", match.group(2) or "")
        else:
            exact[keyword] = value
    return exact, ranges


class FolderStore:
    """DICOM files under ``path`` (searched recursively; hidden files ignored).

    Parameters
    ----------
    path
        The folder.
    index_dir
        Where to keep the search index; ``None`` keeps it in memory.

    Examples
    --------
    >>> store = FolderStore("dicomlab-data/store")        # doctest: +SKIP
    >>> store.search_instances(PatientID="77654033")      # doctest: +SKIP
    """

    # The dicomweb-client index is an SQLite connection bound to the thread that made it.
    thumbnail_concurrency = 1

    def __init__(self, path: str | os.PathLike[str], *, index_dir: Path | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise NotFoundError(
                f"store folder {str(self.path)!r} does not exist or is not a folder"
            )
        self._index_dir = index_dir

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def __repr__(self) -> str:
        return f"FolderStore({str(self.path)!r})"

    def iter_files(self) -> Iterator[Path]:
        """Every non-hidden file below the folder, in a stable order."""
        for root, dirs, files in os.walk(self.path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    yield Path(root, name)

    def count_instances(self) -> int:
        return sum(1 for _ in self.iter_files())

    def iter_paths(self) -> Iterator[tuple[str, str]]:
        """``(source, path)`` per file: the path relative to the folder, and the full path."""
        for path in self.iter_files():
            yield str(path.relative_to(self.path)), str(path)

    def iter_metadata(self) -> Iterator[MetadataItem]:
        """Each file's metadata (no pixel data), or the reason it is not an instance."""
        for source, path in self.iter_paths():
            yield read_instance_metadata(path, source)

    @cached_property
    def client(self) -> DICOMfileClient:
        """The dicomweb-client view of the folder (built on first use)."""
        from dicomweb_client import DICOMfileClient

        if self._index_dir is None:
            return DICOMfileClient(self.url, in_memory=True)
        self._index_dir.mkdir(parents=True, exist_ok=True)
        return DICOMfileClient(self.url, update_db=True, db_dir=self._index_dir)

    def search_instances(self, **filters: str) -> pd.DataFrame:
        """Instances matching DICOM keyword filters, e.g. ``PatientID="77654033"``."""
        import pandas as pd

        from dicomlab.dicomjson import to_records

        exact, ranges = _split_date_ranges(filters)
        found = self.client.search_for_instances(search_filters=exact or None)
        result: pd.DataFrame = pd.DataFrame(to_records(found))
        for keyword, (low, high) in ranges.items():
            # DICOMfileClient ignores date ranges (it only logs so): match them here,
            # as a DICOMweb server does (PS3.4 C.2.2.2.5, YYYYMMDD-YYYYMMDD, open ends).
            if result.empty:
                break
            dates = result.get(keyword, pd.Series("", index=result.index)).fillna("").astype(str)
            keep = dates.ne("") & dates.ge(low or "00000000") & dates.le(high or "99999999")
            result = result[keep].reset_index(drop=True)
        return result

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        """One instance with its pixel data."""
        try:
            return self.client.retrieve_instance(ref.study, ref.series, ref.instance)
        except IndexError as exc:  # how DICOMfileClient reports an unknown instance
            raise NotFoundError(f"instance {ref.instance} is not in {self.path}") from exc
        except ValueError as exc:
            raise NotFoundError(f"instance {ref.instance} is not in {self.path}: {exc}") from exc

    def fetch_thumbnail(
        self, ref: InstanceRef, *, size: int = 128, media_type: str = "image/png", **options: Any
    ) -> bytes:
        """The first frame, windowed and rendered locally."""
        from dicomlab.render import render_dataset

        return render_dataset(self.fetch_instance(ref), size=size, media_type=media_type, **options)
