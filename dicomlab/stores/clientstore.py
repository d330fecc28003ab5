"""What the folder and DICOMweb stores share: a dicomweb-client client, searches, thumbnails.

Both stores wrap a dicomweb-client client (``DICOMfileClient`` over the
folder's index, ``DICOMwebClient`` over HTTP) and differ in how the client's
failures read (:meth:`ClientStore._client_errors`), how results are found
(:meth:`ClientStore._query`) and how a thumbnail is made
(:meth:`ClientStore._render_thumbnail`). On top, this adds the searches at
each level, metadata, cached thumbnails, bulk thumbnails and downloads.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dicomlab.core.dicomjson import to_frame
from dicomlab.core.validation import validate_count
from dicomlab.errors import InvalidRequestError
from dicomlab.stores.base import HealthcareAccess, InstanceRef
from dicomlab.stores.bulk import fetch_thumbnails, index_records
from dicomlab.stores.cache import CacheKey, RenderCache
from dicomlab.stores.dicomweb_errors import malformed
from dicomlab.stores.download import DownloadResult, download
from dicomlab.stores.paths import resource_path

if TYPE_CHECKING:
    import pandas as pd
    from pydicom import Dataset

__all__ = ["ClientStore", "as_cache"]


def as_cache(cache: RenderCache | str | os.PathLike[str] | None) -> RenderCache | None:
    """A :class:`RenderCache`, from itself or its folder (``None``: no cache)."""
    return RenderCache(cache) if isinstance(cache, (str, os.PathLike)) else cache


_TAG = re.compile(r"[0-9A-Fa-f]{8}")


def check_filter_key(key: str) -> None:
    """Refuse a filter that names no DICOM attribute: servers ignore it and answer everything.

    Keywords are case-sensitive; tags (``00100020``) and dotted sequence paths pass.

    >>> check_filter_key("PatientID"), check_filter_key("00100020")
    (None, None)
    >>> check_filter_key("PatientId")
    Traceback (most recent call last):
    ...
    dicomlab.errors.InvalidRequestError: search filter 'PatientId' is not a DICOM keyword ...
    """
    from pydicom.datadict import tag_for_keyword

    if all(_TAG.fullmatch(p) or tag_for_keyword(p) is not None for p in str(key).split(".")):
        return
    raise InvalidRequestError(
        f"search filter {key!r} is not a DICOM keyword or tag (keywords are case-sensitive: "
        "PatientID, StudyDate, Modality…); a store would ignore it and answer more than was "
        "asked",
        value=key,
    )


class ClientStore:
    """The shared part of a store over a dicomweb-client client (subclasses fill the hooks)."""

    cache: RenderCache | None = None

    @property
    def thumbnail_concurrency(self) -> int:
        """Requests in flight at once for bulk retrieval (1: all in the caller's thread)."""
        return 1

    # ---- hooks --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def client(self) -> Any:
        """The dicomweb-client client the store wraps.

        ``Any``: ``DICOMwebClient`` and ``DICOMfileClient`` share the methods
        used here, but not a type (their signatures differ in extras).
        """
        raise NotImplementedError

    def _client_errors(
        self, resource: str, uids: Sequence[str | None]
    ) -> contextlib.AbstractContextManager[None]:
        """How the client's failures about ``resource`` (``uids``) become dicomlab errors."""
        raise NotImplementedError

    def _client_turn(self) -> contextlib.AbstractContextManager[Any]:
        """Held while the client is used (a client that takes one thread at a time)."""
        return contextlib.nullcontext()

    def _query(
        self, level: str, filters: dict[str, str], fields: Sequence[str] | None, limit: int | None
    ) -> list[dict[str, Any]]:
        """DICOM JSON of the ``level`` resources matching ``filters``."""
        raise NotImplementedError

    def _render_thumbnail(
        self, ref: InstanceRef, size: int, media_type: str, options: dict[str, Any]
    ) -> bytes:
        raise NotImplementedError

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        raise NotImplementedError

    # ---- search -------------------------------------------------------------------------

    def healthcare_access(self) -> HealthcareAccess | None:
        """How to reach the Cloud Healthcare API admin calls: ``None``, this is not Google."""
        return None

    def _search(
        self, level: str, filters: dict[str, str], fields: Sequence[str] | None, limit: int | None
    ) -> pd.DataFrame:
        for key in filters:
            check_filter_key(key)
        found: pd.DataFrame = to_frame(self._query(level, filters, fields, limit))
        return found

    def search_studies(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Studies matching DICOM keyword filters, e.g. ``StudyDate="19970101-20041231"``.

        >>> sorted(lab.store.search_studies(PatientID="77654033").StudyDate.dt.year)
        [1995, 2001]
        """
        return self._search("studies", filters, fields, limit)

    def search_series(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Series matching DICOM keyword filters, e.g. ``Modality="MR"``."""
        return self._search("series", filters, fields, limit)

    def search_instances(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Instances matching DICOM keyword filters, e.g. ``PatientID="77654033"``."""
        return self._search("instances", filters, fields, limit)

    def study_records(self, study: str) -> list[dict[str, Any]]:
        """A study's instances as records (:func:`~dicomlab.stores.bulk.index_records`)."""
        return index_records(self.search_instances(StudyInstanceUID=study))

    # ---- metadata -----------------------------------------------------------------------

    def fetch_metadata(
        self, study: str, series: str | None = None, instance: str | None = None
    ) -> list[dict[str, Any]]:
        """DICOM JSON of a study's, a series' or one instance's instances (bulk data omitted).

        >>> uid = lab.store.search_series(Modality="MR").SeriesInstanceUID[0]
        >>> study = lab.store.search_series(Modality="MR").StudyInstanceUID[0]
        >>> lab.store.fetch_metadata(study, uid)[0]["00080060"]
        {'vr': 'CS', 'Value': ['MR']}
        """
        resource = f"{resource_path(study, series, instance)}/metadata"
        client = self.client
        with self._client_errors(resource, (study, series, instance)), self._client_turn():
            if instance is not None and series is not None:
                found: Any = [client.retrieve_instance_metadata(study, series, instance)]
            elif series is not None:
                found = client.retrieve_series_metadata(study, series)
            else:
                found = client.retrieve_study_metadata(study)
        if not isinstance(found, list) or not all(isinstance(i, dict) for i in found):
            raise malformed(resource, f"expected a list of objects, got {str(found)[:200]}")
        return [dict(item) for item in found]

    # ---- thumbnails and downloads -------------------------------------------------------

    def fetch_thumbnail(
        self, ref: InstanceRef, *, size: int = 128, media_type: str = "image/png", **options: Any
    ) -> bytes:
        """A rendered, windowed image of the instance's first frame, fitted in ``size`` pixels.

        ``options`` (``window=(center, width)``, ``quality``…) go to the local
        renderer. Results are kept in the store's cache when it has one, keyed
        by (store, UIDs, frame, media type, size, options).
        """
        validate_count(size, "size", hint="the thumbnail's width in pixels")
        key = CacheKey(
            self.url,
            (ref.study, ref.series, ref.instance),
            1,
            media_type,
            size,
            tuple(sorted(options.items())),
        )
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit
        data = self._render_thumbnail(ref, size, media_type, options)
        if self.cache is not None:
            self.cache.put_soon(key, data)  # the page does not wait on the disk
        return data

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
        """One thumbnail per row of ``df`` (JPEG by default), in row order.

        Rows that cannot be shown get a labelled placeholder image (or ``None``
        with ``placeholder=False``). See :func:`~dicomlab.stores.bulk.fetch_thumbnails`.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> images = lab.store.fetch_thumbnails(hits.head(3), size=64, progress=False)
        >>> len(images), all(image.startswith(b"\\xff\\xd8") for image in images)
        (3, True)
        """
        return fetch_thumbnails(
            self,
            df,
            size=size,
            media_type=media_type,
            workers=workers,
            progress=progress,
            placeholder=placeholder,
        )

    def download(
        self,
        df: pd.DataFrame,
        folder: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        workers: int | None = None,
        progress: bool = True,
    ) -> DownloadResult:
        """Save the instances the rows name under ``folder``, checked.

        See :func:`dicomlab.stores.download.download`.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> lab.store.download(hits, "cohort-files", progress=False).counter
        {'written': 7, 'skipped': 0, 'repaired': 0, 'failure': 0}
        """
        return download(self, df, folder, overwrite=overwrite, workers=workers, progress=progress)
