"""A DICOMweb server (Orthanc, dcm4chee, Google, …) as a store, through dicomweb-client.

Search (QIDO-RS) pages with ``offset`` until the server has nothing more
(:mod:`dicomlab.stores.paging`); retrieval (WADO-RS) and storage (STOW-RS,
:mod:`dicomlab.stores.dicomweb_stow`) go through
:class:`dicomweb_client.DICOMwebClient` over a guarded transport
(:mod:`dicomlab.stores.transport`); renderings fall back to local rendering
(:mod:`dicomlab.stores.rendered`); deletes follow the server
(:mod:`dicomlab.stores.deletion`). Every HTTP or connection failure is
translated in one place (:mod:`dicomlab.stores.dicomweb_errors`) into
:class:`~dicomlab.errors.RemoteError` (``service="DICOMweb"``), or
:class:`~dicomlab.errors.NotFoundError` for a 404.

Query values are sent with ``*`` and ``,`` unencoded (both are legal in a
query): Orthanc does not percent-decode query values, so ``PatientID=7765%2A``
or ``viewport=64%2C64`` would silently match nothing or fail.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import requests
from dicomweb_client import DICOMwebClient
from pydicom import Dataset

from dicomlab.errors import InvalidRequestError, RemoteError
from dicomlab.stores.answers import (
    INSTANCE_ACCEPT,
    frames_accept,
    frames_from_answer,
    instance_from_answer,
)
from dicomlab.stores.base import HealthcareAccess, InstanceRef, MetadataItem, frame_numbers
from dicomlab.stores.baseurl import split_store_url
from dicomlab.stores.bulk import imap_bounded
from dicomlab.stores.cache import RenderCache
from dicomlab.stores.clientstore import ClientStore, as_cache
from dicomlab.stores.deletion import OperationWait, delete_resource
from dicomlab.stores.dicomweb_errors import malformed, translated
from dicomlab.stores.dicomweb_frames import frames_past_the_last
from dicomlab.stores.dicomweb_metadata import datasets_from_json, series_items
from dicomlab.stores.dicomweb_stow import post_json_jpeg, stow_datasets
from dicomlab.stores.integrity import check_uids
from dicomlab.stores.paging import iter_pages, server_warnings
from dicomlab.stores.paths import json_uid, resource_path
from dicomlab.stores.profiles import GENERIC, ORTHANC, PROFILES, ServerProfile, detect_profile
from dicomlab.stores.rendered import fetch_server_rendered, server_or_local_thumbnail
from dicomlab.stores.stow import StowResult, dataset_from_json_jpeg, store_in_batches
from dicomlab.stores.transport import CircuitBreaker, GuardedAdapter

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["DICOMwebStore", "StowResult"]

logger = logging.getLogger(__name__)
STOW_BATCH = 20
_SERIES_COUNT = "00201209"  # NumberOfSeriesRelatedInstances


class DICOMwebStore(ClientStore):
    """A DICOMweb server at base URL ``url`` (e.g. ``http://127.0.0.1:8042/dicom-web``).

    Parameters
    ----------
    url
        The DICOMweb base URL (QIDO, WADO and STOW share it). A
        ``user:password@`` in it is sent as HTTP Basic authentication and
        dropped from the URL (never shown); a query string is refused.
    session
        A ready ``requests.Session`` (authentication lives there, e.g. Google's
        ``AuthorizedSession``); a new one if ``None``.
    headers
        Extra headers sent with every request (e.g. ``Authorization``).
    auth
        ``(user, password)`` for HTTP basic authentication.
    timeout
        ``(connect, read)`` seconds: to connect, and for each read from the socket.
    deadline
        Seconds a whole request may take, body included (a server sending a
        trickle of bytes is cut off); a :class:`~dicomlab.errors.RemoteError`
        saying so after that.
    max_attempts
        Attempts per request: connection failures and 408, 429, 500, 502, 503
        and 504 answers are retried with exponential back-off (``backoff`` ×
        1, 2, 4… seconds, at most 30), waiting as long as a ``Retry-After``
        header asks. ``1`` fails at once.
    backoff
        The first back-off in seconds.
    failure_threshold, cooldown
        After ``failure_threshold`` requests in a row (each after its retries)
        fail to connect or time out, the server is taken to be down: every call
        fails at once with :class:`~dicomlab.errors.ServerDownError`, from any
        thread, for ``cooldown`` seconds; then one request probes the server
        and, if it is answered, calls go through again.
    profile
        The server's :class:`~dicomlab.stores.profiles.ServerProfile` (or its
        name: ``"google"``, ``"orthanc"``, ``"generic"``); found from the URL
        (and, for deletes, by asking the server) when ``None``.
    cache
        A :class:`~dicomlab.stores.cache.RenderCache` (or its folder) for
        rendered thumbnails; ``None`` caches nothing.
    wait_operation
        Waits for a long-running operation by name: Google answers a study or
        series delete with one (:func:`dicomlab.backends.google_store` passes
        the Healthcare API's). Without it such deletes are refused.

    Attributes
    ----------
    breaker
        The store's :class:`~dicomlab.stores.transport.CircuitBreaker`
        (``store.breaker.is_open`` says whether calls are being refused).

    Examples
    --------
    A server needs to be running; with none at the address, the first call says so:

    >>> store = DICOMwebStore("http://127.0.0.1:9/dicom-web", max_attempts=1)
    >>> store.search_studies(PatientID="77654033")
    Traceback (most recent call last):
    ...
    dicomlab.errors.RemoteError: DICOMweb request for studies failed: ConnectionError: ...
    """

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | tuple[float, float] = (5, 60),
        deadline: float = 600.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
        profile: ServerProfile | str | None = None,
        cache: RenderCache | str | os.PathLike[str] | None = None,
        wait_operation: OperationWait | None = None,
    ) -> None:
        # Credentials in the URL move to HTTP Basic auth: the URL kept, shown and
        # sent never holds them.
        clean, url_auth = split_store_url(url)
        if url_auth is not None and auth is not None:
            raise InvalidRequestError(
                f"store URL {clean!r} gets credentials twice (user:password@ in the URL and "
                "auth=): give them once",
                value=clean,
            )
        self._url = clean.rstrip("/")
        self.session = session if session is not None else requests.Session()
        credentials = auth or url_auth
        if credentials is not None:
            # HTTPBasicAuth's repr shows no password (a tuple's would).
            self.session.auth = requests.auth.HTTPBasicAuth(*credentials)
        # Scoped to this server: a caller's session keeps its behaviour elsewhere.
        self.breaker = CircuitBreaker(failure_threshold, cooldown)
        adapter = GuardedAdapter(
            max_attempts=max(1, max_attempts),
            backoff=backoff,
            deadline=deadline,
            breaker=self.breaker,
        )
        self.session.mount(self._url + "/", adapter)
        self.session.hooks["response"].append(server_warnings(self._url))
        self.timeout = timeout
        self._client = DICOMwebClient(
            self._url, session=self.session, headers=headers, timeout=timeout
        )
        # Retries live in the transport (it honours Retry-After); none on top of them.
        self._client.set_http_retry_params(retry=False)
        self._profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.cache = as_cache(cache)
        self._wait_operation = wait_operation

    @property
    def url(self) -> str:
        return self._url

    @property
    def client(self) -> DICOMwebClient:
        """The dicomweb-client client over the store's session."""
        return self._client

    def __repr__(self) -> str:
        return f"DICOMwebStore({self._url!r})"

    @property
    def profile(self) -> ServerProfile:
        """What kind of server this is (from the URL, or asked once: Orthanc's ``/system``)."""
        if self._profile is None:
            self._profile = detect_profile(self._url)
            if self._profile is GENERIC and _is_orthanc(self.session, self._url):
                self._profile = ORTHANC
        return self._profile

    @property
    def _known_profile(self) -> ServerProfile:
        """The profile as far as it is known without asking the server (enough for paging)."""
        return self._profile or detect_profile(self._url)

    @property
    def thumbnail_concurrency(self) -> int:
        """Requests in flight at once for bulk retrieval (from the server profile)."""
        return self._known_profile.concurrency

    @property
    def lists_rows(self) -> bool:
        """Whether this server's instance searches list ``Rows`` (see the profile)."""
        return self.profile.lists_rows

    def healthcare_access(self) -> HealthcareAccess | None:
        """The session, API root and store name when this is a Cloud Healthcare API store."""
        if self.profile.name != "google" or "/projects/" not in self._url:
            return None
        api_root, _, rest = self._url.partition("/projects/")
        return HealthcareAccess(
            self.session, api_root, "projects/" + rest.removesuffix("/dicomWeb")
        )

    def _client_errors(
        self, resource: str, uids: Sequence[str | None]
    ) -> AbstractContextManager[None]:
        return translated(resource)

    # ---- search -------------------------------------------------------------------------

    def _query(
        self, level: str, filters: dict[str, str], fields: Sequence[str] | None, limit: int | None
    ) -> list[dict[str, Any]]:
        return list(self._pages(level, limit, filters or None, list(fields) if fields else None))

    def _pages(
        self,
        level: str,
        limit: int | None = None,
        filters: dict[str, str] | None = None,
        fields: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        searches: dict[str, Callable[..., list[dict[str, Any]]]] = {
            "studies": self._client.search_for_studies,
            "series": self._client.search_for_series,
            "instances": self._client.search_for_instances,
        }
        search = searches[level]
        profile = self._known_profile
        return iter_pages(search, level, profile, limit, search_filters=filters, fields=fields)

    def count_instances(self) -> int:
        """How many instances the server holds.

        The sum of the series' ``NumberOfSeriesRelatedInstances`` where the
        server gives it for every series (one short search instead of listing
        every instance); else the instances are counted through QIDO pages.
        """
        total = 0
        for item in self._pages("series", fields=[_SERIES_COUNT]):
            related = _related_instances(item)
            if related is None:  # not given: count the instances
                return sum(1 for _ in self._pages("instances", fields=["00080018"]))
            total += related
        return total

    def iter_series(self) -> Iterator[tuple[str, str]]:
        """``(StudyInstanceUID, SeriesInstanceUID)`` of every series."""
        for study, series, _ in self._listed_series(["0020000D"]):
            yield study, series

    def _listed_series(self, fields: list[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for item in self._pages("series", fields=fields):
            study, series = json_uid(item, "study"), json_uid(item, "series")
            if not (study and series):
                raise malformed("series", f"a series without its UIDs: {str(item)[:200]}")
            yield study, series, item

    # ---- metadata -----------------------------------------------------------------------

    def iter_json(self, *, counted: Callable[[int], None] | None = None) -> Iterator[MetadataItem]:
        """Every instance's DICOM JSON (``MetadataItem.json``), one WADO-RS request per series.

        Series are fetched ``thumbnail_concurrency`` at a time and handed out
        in the order they are listed. A series whose metadata cannot be
        fetched (no answer, a server error after retries, a series gone since
        it was listed, an answer that is not a list of objects) becomes one
        failure item named after the series, with ``transport`` set: the store
        failed, not the instances. An instance whose metadata is malformed is a
        failure of its own (``transport`` unset). The other series are still read.

        With ``counted``, every series is listed first, with its
        ``NumberOfSeriesRelatedInstances``, and ``counted`` is called with
        their sum before any metadata is asked for (a progress bar's total,
        at no search of its own); it is not called when a series comes
        without that number. Without ``counted``, series are listed as they
        are read.
        """
        listing: Iterable[tuple[str, str]]
        if counted is None:
            listing = self.iter_series()
        else:
            listed = list(self._listed_series(["0020000D", _SERIES_COUNT]))
            listing = [(study, series) for study, series, _ in listed]
            related = [_related_instances(item) for _, _, item in listed]
            if None not in related:
                counted(sum(r for r in related if r is not None))

        def items(uids: tuple[str, str]) -> list[MetadataItem]:
            return series_items(self.fetch_metadata, *uids)

        for found in imap_bounded(items, listing, workers=self.thumbnail_concurrency):
            yield from found

    def iter_metadata(self) -> Iterator[MetadataItem]:
        """Every instance's metadata as a Dataset (bulk data elements left empty)."""
        yield from datasets_from_json(self.iter_json())

    # ---- instances, frames, rendered ----------------------------------------------------

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        """One instance with its pixel data (WADO-RS), checked before it is returned.

        The answer must be one whole DICOM part (:mod:`dicomlab.stores.answers`),
        complete and carrying the UIDs asked for (:mod:`dicomlab.stores.integrity`).

        Raises
        ------
        RemoteError
            The server failed, or answered with something else than one whole instance.
        InstanceMismatchError
            The server answered with another instance.
        DicomReadError
            The instance came cut short.
        """
        resource = resource_path(ref.study, ref.series, ref.instance)  # UIDs checked before use
        with translated(resource):
            response = self.session.get(
                f"{self._url}/{resource}",
                headers={"Accept": INSTANCE_ACCEPT},
                timeout=self.timeout,
            )
            response.raise_for_status()
        dataset = instance_from_answer(response, resource)  # whole, or an error
        check_uids(ref, dataset, f"the DICOMweb answer for {resource}")
        return dataset

    def fetch_frames(
        self,
        ref: InstanceRef,
        frames: Sequence[int] = (1,),
        *,
        media_type: str = "application/octet-stream",
    ) -> list[bytes]:
        """Frames (1-based) of an instance: raw pixels by default, or ``image/jpeg``…

        The media type is always sent explicitly (Orthanc answers nothing useful
        without it). The answer must hold one whole part per frame
        (:class:`~dicomlab.errors.RemoteError` otherwise, e.g. for a body cut short).
        """
        numbers = frame_numbers(frames)
        accept = frames_accept(media_type)
        resource = f"{resource_path(ref.study, ref.series, ref.instance)}/frames/"
        resource += ",".join(map(str, numbers))
        try:
            with translated(resource):
                response = self.session.get(
                    f"{self._url}/{resource}", headers={"Accept": accept}, timeout=self.timeout
                )
                response.raise_for_status()
        except RemoteError as exc:  # a frame past the last is not found, as on every store
            past = None
            if exc.status is not None and 400 <= exc.status < 500:
                past = frames_past_the_last(self.session, self._url, ref, numbers, self.timeout)
            if past is None:
                raise
            raise past from exc
        return frames_from_answer(response, resource, len(numbers))

    def fetch_rendered(
        self,
        ref: InstanceRef,
        *,
        frame: int | None = None,
        media_type: str = "image/jpeg",
        viewport: int | tuple[int, int] | None = None,
        params: dict[str, Any] | None = None,
    ) -> bytes:
        """The server's rendering of an instance (or one frame): JPEG, or PNG on request.

        The image is decoded once to check it is whole (a body cut short is a
        :class:`~dicomlab.errors.RemoteError`, never a half image).

        ``viewport`` fits the image in a box (one side, or ``(width, height)``);
        ``params`` passes server extras (e.g. Orthanc's ``window``).
        """
        return fetch_server_rendered(
            self._client, ref, frame=frame, media_type=media_type, viewport=viewport, params=params
        )

    def _render_thumbnail(
        self, ref: InstanceRef, size: int, media_type: str, options: dict[str, Any]
    ) -> bytes:
        return server_or_local_thumbnail(
            lambda: self.fetch_rendered(ref, media_type=media_type, viewport=size),
            lambda: self.fetch_instance(ref),
            ref,
            size=size,
            media_type=media_type,
            options=options,
        )

    # ---- store and delete ---------------------------------------------------------------

    def store_files(
        self, paths: Iterable[str | os.PathLike[str]], *, batch_size: int = STOW_BATCH
    ) -> StowResult:
        """Upload DICOM files with STOW-RS, ``batch_size`` files per request.

        Files that cannot be read, and instances the server refuses (listed in
        the response's FailedSOPSequence, also when it answers 400 or 409 for a
        partly failed batch), are reported in :attr:`StowResult.failures`.
        """
        return store_in_batches(paths, batch_size, self.store_datasets)

    def store_datasets(
        self, datasets: dict[str, Dataset], result: StowResult | None = None
    ) -> StowResult:
        """Send datasets (keyed by SOPInstanceUID) in one STOW-RS request."""
        return stow_datasets(self._client, datasets, result)

    def store_json(self, metadata: Mapping[str, Any], jpeg: bytes) -> StowResult:
        """Store one instance given as DICOM JSON plus a baseline JPEG image.

        Sent as ``multipart/related; type="application/dicom+json"`` where the
        server takes it (Google); as a Part 10 file with the JPEG encapsulated
        where it does not (Orthanc answers 415, and so does any server that
        refuses the JSON form: then the Part 10 form is sent instead).
        """
        dataset = dataset_from_json_jpeg(metadata, jpeg)  # validates the UIDs first
        if self.profile.stow_json:
            sent = post_json_jpeg(self.session, self._url, metadata, jpeg, self.timeout)
            if sent is not None:
                return sent
        return self.store_datasets({str(dataset.SOPInstanceUID): dataset})

    def delete(self, study: str, series: str | None = None, instance: str | None = None) -> None:
        """Delete a study, a series or an instance from the server (and from the cache).

        Google answers a study or series delete with a long-running operation,
        waited on with ``wait_operation``; Orthanc deletes through its REST API
        (its DICOMweb plugin has no DELETE).
        """
        path = resource_path(study, series, instance)
        uids = [uid for uid in (study, series, instance) if uid]
        with translated(path):
            delete_resource(self, path, uids, self._wait_operation)
        if self.cache is not None:
            self.cache.discard(self._url, tuple(uids))


def _is_orthanc(session: requests.Session, url: str) -> bool:
    """Whether the server beside ``url`` answers Orthanc's ``GET /system``."""
    root = url.rsplit("/", 1)[0]
    try:
        response = session.get(f"{root}/system", timeout=5)
        return response.ok and "ApiVersion" in response.json()
    except (requests.RequestException, ValueError):
        return False


def _related_instances(item: Mapping[str, Any]) -> int | None:
    """A series' ``NumberOfSeriesRelatedInstances`` from its search result, if given."""
    element = item.get(_SERIES_COUNT)
    value = (element.get("Value") if isinstance(element, dict) else None) or [None]
    return value[0] if type(value[0]) is int and value[0] >= 0 else None
