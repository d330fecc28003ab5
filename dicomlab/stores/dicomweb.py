"""A DICOMweb server (Orthanc, dcm4chee, …) as a store, through dicomweb-client.

Search (QIDO-RS) pages with ``offset`` until the server has nothing more;
retrieval (WADO-RS) and storage (STOW-RS) go through
:class:`dicomweb_client.DICOMwebClient`. Every HTTP or connection failure is
translated in one place (:func:`_translated`) into
:class:`~dicomlab.errors.RemoteError` (``service="DICOMweb"``), or
:class:`~dicomlab.errors.NotFoundError` for a 404.

Query values are sent with ``*`` and ``,`` unencoded (both are legal in a
query): Orthanc does not percent-decode query values, so ``PatientID=7765%2A``
or ``viewport=64%2C64`` would silently match nothing or fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dicomlab.errors import (
    DicomlabError,
    InvalidIdentifierError,
    InvalidRequestError,
    NotFoundError,
    RemoteError,
    ServerDownError,
)
from dicomlab.stores.base import InstanceRef, MetadataItem, frame_numbers
from dicomlab.stores.bulk import BulkRetrieval
from dicomlab.stores.cache import RenderCache
from dicomlab.stores.integrity import check_uids
from dicomlab.stores.profiles import GENERIC, ORTHANC, PROFILES, ServerProfile, detect_profile
from dicomlab.stores.stow import StowResult, json_body, record_stow, store_in_batches

if TYPE_CHECKING:
    import pandas as pd
    import requests
    from dicomweb_client import DICOMwebClient
    from pydicom import Dataset

__all__ = ["DICOMwebStore", "ServerWarning", "StowResult"]

logger = logging.getLogger(__name__)
SERVICE = "DICOMweb"
STOW_BATCH = 20
# Statuses for which a server is taken to be unable to render an instance.
RENDER_FALLBACK_STATUSES = frozenset({400, 406, 500})
_UIDS = {"study": "0020000D", "series": "0020000E", "instance": "00080018"}


@contextlib.contextmanager
def _translated(resource: str) -> Iterator[None]:
    """Turn ``requests`` failures inside the block into dicomlab errors about ``resource``."""
    import requests
    from pydicom.errors import InvalidDicomError

    from dicomlab.redaction import safe_cause
    from dicomlab.stores.transport import CircuitOpen

    # A foreign exception's text may hold a URL with a password or a token: the
    # messages are redacted (DicomlabError does it) and such a cause is not chained.
    try:
        yield
    except DicomlabError:
        raise
    except CircuitOpen as exc:
        raise ServerDownError(
            f"DICOMweb request for {resource} {exc}; nothing more is sent to it for "
            f"{max(0.0, exc.retry_at - time.monotonic()):.0f} s. Check that the server is "
            "running and reachable, then try again",
            service=SERVICE,
            resource=resource,
            retry_at=exc.retry_at,
        ) from exc
    except requests.HTTPError as exc:
        status, cause = _http_status(exc), safe_cause(exc)
        detail = (exc.response.text[:200].strip() if exc.response is not None else "") or str(exc)
        if status == 404:
            raise NotFoundError(f"{resource} was not found on the DICOMweb server") from cause
        raise RemoteError(
            f"DICOMweb request for {resource} failed with HTTP {status}: {detail}",
            service=SERVICE,
            resource=resource,
            status=status,
        ) from cause
    except requests.RequestException as exc:
        raise RemoteError(
            f"DICOMweb request for {resource} failed: {type(exc).__name__}: {exc}",
            service=SERVICE,
            resource=resource,
        ) from safe_cause(exc)
    except (InvalidDicomError, ValueError) as exc:  # dicomweb-client read an unexpected body
        raise RemoteError(
            f"the DICOMweb server answered {resource} with a body that could not be read: "
            f"{type(exc).__name__}: {exc}",
            service=SERVICE,
            resource=resource,
        ) from safe_cause(exc)


def _http_status(exc: requests.HTTPError) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind a translated error (``None`` when there was none)."""
    if isinstance(exc, NotFoundError):
        return 404
    return exc.status if isinstance(exc, RemoteError) else None


def _no_bulk(tag: str, vr: str, uri: str) -> bytes:
    """Bulk data (pixels, large values) is not fetched for metadata: left empty."""
    return b""


def _uid(item: object, level: str) -> str:
    """The study, series or instance UID of a DICOM JSON object, or ``""`` when it has none."""
    try:
        value = item[_UIDS[level]]["Value"][0]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return ""
    return value if isinstance(value, str) else ""


def _malformed(resource: str, what: str) -> RemoteError:
    return RemoteError(
        f"the DICOMweb server answered {resource} with malformed DICOM JSON: {what}",
        service=SERVICE,
        resource=resource,
    )


def instance_path(ref: InstanceRef) -> str:
    """The WADO-RS path of an instance, relative to the base URL.

    >>> instance_path(InstanceRef("1.2", "1.2.3", "1.2.3.4"))
    'studies/1.2/series/1.2.3/instances/1.2.3.4'
    """
    return f"studies/{ref.study}/series/{ref.series}/instances/{ref.instance}"


class ServerWarning(UserWarning):
    """A DICOMweb server said its answer is incomplete (truncated search results)."""


class DICOMwebStore(BulkRetrieval):
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

    Attributes
    ----------
    breaker
        The store's :class:`~dicomlab.stores.transport.CircuitBreaker`
        (``store.breaker.is_open`` says whether calls are being refused).

    Examples
    --------
    >>> store = DICOMwebStore("http://127.0.0.1:8042/dicom-web")      # doctest: +SKIP
    >>> store.search_studies(PatientID="77654033")                    # doctest: +SKIP
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
    ) -> None:
        import requests
        from dicomweb_client import DICOMwebClient

        from dicomlab.stores.baseurl import split_store_url
        from dicomlab.stores.transport import CircuitBreaker, GuardedAdapter

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
        self.session.hooks["response"].append(self._note_warning)
        self.timeout = timeout
        self.client: DICOMwebClient = DICOMwebClient(
            self._url, session=self.session, headers=headers, timeout=timeout
        )
        # Retries live in the transport (it honours Retry-After); none on top of them.
        self.client.set_http_retry_params(retry=False)
        self._profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.cache = RenderCache(cache) if isinstance(cache, (str, os.PathLike)) else cache

    @property
    def url(self) -> str:
        return self._url

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
    def thumbnail_concurrency(self) -> int:  # type: ignore[override]
        """Requests in flight at once for bulk retrieval (from the server profile)."""
        return self._known_profile.concurrency

    @property
    def lists_rows(self) -> bool:
        """Whether this server's instance searches list ``Rows`` (see the profile)."""
        return self.profile.lists_rows

    def _note_warning(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Surface a server's ``Warning`` header on a search (e.g. truncated results)."""
        warning = response.headers.get("Warning")
        if warning and response.request.method == "GET" and response.url.startswith(self._url):
            path = response.url[len(self._url) :].split("?")[0]
            warnings.warn(
                f"the DICOMweb server warns about {path}: {warning}", ServerWarning, stacklevel=2
            )

    # ---- search -------------------------------------------------------------------------

    def _pages(
        self,
        search: Callable[..., list[dict[str, Any]]],
        level: str,
        limit: int | None = None,
        **kwargs: Any,
    ) -> Iterator[dict[str, Any]]:
        """QIDO results, a page at a time (the profile's cap), until a page comes back empty.

        Stops after ``limit`` results; warns when the server's largest
        ``offset`` is reached with results left (they cannot be fetched).
        """
        page_size = self._known_profile.page_limit(level)
        offset, max_offset = 0, self._known_profile.max_offset
        first: dict[str, Any] | None = None
        while limit is None or offset < limit:
            size = page_size if limit is None else min(page_size, limit - offset)
            with _translated(level):
                page = search(limit=size, offset=offset, **kwargs)
            if not page:
                return
            if offset and page[0] == first:  # the first page again: offset is not honoured
                warnings.warn(
                    f"{level} search stopped at {offset} results: the server ignores offset, "
                    "so later pages cannot be fetched; narrow the search (e.g. by StudyDate)",
                    ServerWarning,
                    stacklevel=3,
                )
                return
            first = page[0] if first is None else first
            yield from page
            offset += len(page)
            if max_offset is not None and offset > max_offset and len(page) == size:
                warnings.warn(
                    f"{level} search stopped at {offset} results: the server accepts no "
                    f"offset beyond {max_offset}; narrow the search (e.g. by StudyDate)",
                    ServerWarning,
                    stacklevel=3,
                )
                return

    def _search(
        self,
        level: str,
        filters: dict[str, str],
        fields: Sequence[str] | None,
        limit: int | None,
    ) -> pd.DataFrame:
        from dicomlab.core.dicomjson import to_frame

        search = getattr(self.client, f"search_for_{level}")
        found = self._pages(
            search,
            level,
            limit,
            search_filters=filters or None,
            fields=list(fields) if fields else None,
        )
        return to_frame(found)

    def search_studies(
        self, fields: Sequence[str] | None = None, limit: int | None = None, **filters: str
    ) -> pd.DataFrame:
        """Studies matching DICOM keyword filters, one row each (all pages, or ``limit``).

        >>> store.search_studies(StudyDate="19970101-20041231")        # doctest: +SKIP
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

    def count_instances(self) -> int:
        """How many instances the server holds (counted through QIDO pages)."""
        pages = self._pages(self.client.search_for_instances, "instances", fields=["00080018"])
        return sum(1 for _ in pages)

    def iter_series(self) -> Iterator[tuple[str, str]]:
        """``(StudyInstanceUID, SeriesInstanceUID)`` of every series."""
        for item in self._pages(self.client.search_for_series, "series", fields=["0020000D"]):
            study, series = _uid(item, "study"), _uid(item, "series")
            if not (study and series):
                raise _malformed("series", f"a series without its UIDs: {str(item)[:200]}")
            yield study, series

    # ---- metadata -----------------------------------------------------------------------

    def fetch_metadata(
        self, study: str, series: str | None = None, instance: str | None = None
    ) -> list[dict[str, Any]]:
        """DICOM JSON of a study's, a series' or one instance's instances (bulk data omitted).

        >>> store.fetch_metadata("1.2.3", "1.2.3.4")[0]["00080018"]     # doctest: +SKIP
        {'vr': 'UI', 'Value': ['1.2.3.4.5']}
        """
        resource = f"{_path(study, series, instance)}/metadata"
        with _translated(resource):
            if instance is not None and series is not None:
                found: Any = [self.client.retrieve_instance_metadata(study, series, instance)]
            elif series is not None:
                found = self.client.retrieve_series_metadata(study, series)
            else:
                found = self.client.retrieve_study_metadata(study)
        if not isinstance(found, list) or not all(isinstance(i, dict) for i in found):
            raise _malformed(resource, f"expected a list of objects, got {str(found)[:200]}")
        return [dict(item) for item in found]

    def iter_json(self) -> Iterator[MetadataItem]:
        """Every instance's DICOM JSON (``MetadataItem.json``), one WADO-RS request per series.

        A series whose metadata cannot be fetched (no answer, a server error
        after retries, a series gone since it was listed, an answer that is not
        a list of objects) becomes one failure item named after the series,
        with ``transport`` set: the store failed, not the instances. An
        instance whose metadata is malformed is a failure of its own
        (``transport`` unset). The other series are still read.
        """
        for study, series in self.iter_series():
            resource = f"studies/{study}/series/{series}/metadata"
            try:
                items = self.fetch_metadata(study, series)
            except (RemoteError, NotFoundError) as exc:
                yield MetadataItem(resource, error=str(exc), transport=True)
                continue
            for meta in items:
                instance = _uid(meta, "instance")
                if not instance:
                    yield MetadataItem(resource, error="an instance without SOPInstanceUID")
                    continue
                source = f"studies/{study}/series/{series}/instances/{instance}"
                yield MetadataItem(source, json=meta)

    def iter_metadata(self) -> Iterator[MetadataItem]:
        """Every instance's metadata as a Dataset (bulk data elements left empty)."""
        from pydicom import Dataset

        for item in self.iter_json():
            if item.json is None:
                yield item
                continue
            try:
                dataset = Dataset.from_json(dict(item.json), bulk_data_uri_handler=_no_bulk)
            except Exception as exc:  # one malformed object must not stop an export
                yield MetadataItem(item.source, error=f"metadata not readable: {exc}")
                continue
            yield MetadataItem(item.source, dataset=dataset)

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
        from dicomlab.stores.answers import INSTANCE_ACCEPT, instance_from_answer

        resource = _path(ref.study, ref.series, ref.instance)  # UIDs checked before use
        with _translated(resource):
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
        from dicomlab.stores.answers import frames_accept, frames_from_answer

        numbers = frame_numbers(frames)
        accept = frames_accept(media_type)
        resource = f"{_path(ref.study, ref.series, ref.instance)}/frames/"
        resource += ",".join(map(str, numbers))
        with _translated(resource):
            response = self.session.get(
                f"{self._url}/{resource}", headers={"Accept": accept}, timeout=self.timeout
            )
            response.raise_for_status()
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
        query = dict(params or {})
        if viewport is not None:
            width, height = (viewport, viewport) if isinstance(viewport, int) else viewport
            query["viewport"] = f"{width},{height}"
        from dicomlab.stores.answers import check_image

        args = (ref.study, ref.series, ref.instance)
        if frame is None:
            resource = f"{instance_path(ref)}/rendered"
            with _translated(resource):
                data = self.client.retrieve_instance_rendered(
                    *args, media_types=(media_type,), params=query or None
                )
        else:
            resource = f"{instance_path(ref)}/frames/{frame}/rendered"
            with _translated(resource):
                data = self.client.retrieve_instance_frames_rendered(
                    *args, frame_numbers([frame]), media_types=(media_type,), params=query or None
                )
        check_image(data, media_type, resource)  # never a cut image, nor one cached
        return data

    def _render_thumbnail(
        self, ref: InstanceRef, size: int, media_type: str, options: dict[str, Any]
    ) -> bytes:
        if not options:
            try:
                return self.fetch_rendered(ref, media_type=media_type, viewport=size)
            except (RemoteError, NotFoundError) as exc:
                if _status(exc) not in RENDER_FALLBACK_STATUSES:
                    raise
                logger.debug("server cannot render %s; rendering locally: %s", ref.instance, exc)
        from dicomlab.core.render import render_dataset

        return render_dataset(self.fetch_instance(ref), size=size, media_type=media_type, **options)

    # ---- store and delete ---------------------------------------------------------------

    def store_files(
        self, paths: Iterable[str | os.PathLike[str]], *, batch_size: int = STOW_BATCH
    ) -> StowResult:
        """Upload DICOM files with STOW-RS, ``batch_size`` files per request.

        Files that cannot be read, and instances the server refuses (listed in
        the response's FailedSOPSequence, also when it answers 400 or 409 for a
        partly failed batch), are reported in :attr:`StowResult.failures`.

        >>> store.store_files(sorted(Path("cohort").rglob("*.dcm"))).counter   # doctest: +SKIP
        {'success': 81, 'failure': 0}
        """
        return store_in_batches(paths, batch_size, self.store_datasets)

    def store_datasets(
        self, datasets: dict[str, Dataset], result: StowResult | None = None
    ) -> StowResult:
        """Send datasets (keyed by SOPInstanceUID) in one STOW-RS request."""
        import requests

        result = result if result is not None else StowResult()
        try:
            with _translated("studies"):
                try:
                    response = self.client.store_instances(list(datasets.values()))
                except requests.HTTPError as exc:
                    body = json_body(exc.response)
                    if body is None or _http_status(exc) not in (400, 409):
                        raise
                    response = body
        except RemoteError as exc:
            result.failures.extend((uid, str(exc)) for uid in datasets)
            return result
        record_stow(response, datasets, result)
        return result

    def store_json(self, metadata: Mapping[str, Any], jpeg: bytes) -> StowResult:
        """Store one instance given as DICOM JSON plus a baseline JPEG image.

        Sent as ``multipart/related; type="application/dicom+json"`` where the
        server takes it (Google); as a Part 10 file with the JPEG encapsulated
        where it does not (Orthanc answers 415, and so does any server that
        refuses the JSON form: then the Part 10 form is sent instead).
        """
        from dicomlab.stores.stow import build_json_jpeg_body, dataset_from_json_jpeg

        dataset = dataset_from_json_jpeg(metadata, jpeg)  # validates the UIDs first
        uid = str(dataset.SOPInstanceUID)
        if self.profile.stow_json:
            body, content_type = build_json_jpeg_body(metadata, jpeg)
            headers = {"Content-Type": content_type, "Accept": "application/dicom+json"}
            response = self.session.post(
                f"{self._url}/studies", data=body, headers=headers, timeout=self.timeout
            )
            if response.status_code != 415:
                result = StowResult()
                with _translated("studies"):
                    parsed = json_body(response)
                    if parsed is None:
                        response.raise_for_status()
                        raise RemoteError(
                            "DICOMweb STOW answered without a DICOM JSON body",
                            service=SERVICE,
                            resource="studies",
                            status=response.status_code,
                        )
                record_stow(parsed, {uid: dataset}, result)
                return result
        return self.store_datasets({uid: dataset})

    def delete(self, study: str, series: str | None = None, instance: str | None = None) -> None:
        """Delete a study, a series or an instance from the server (and from the cache).

        Google answers a study or series delete with a long-running operation,
        waited on here; Orthanc deletes through its REST API (its DICOMweb
        plugin has no DELETE).
        """
        from dicomlab.stores.deletion import delete_resource

        path = _path(study, series, instance)
        with _translated(path):
            delete_resource(self, path, [uid for uid in (study, series, instance) if uid])
        if self.cache is not None:
            self.cache.discard(self._url, tuple(u for u in (study, series, instance) if u))


def _path(study: str, series: str | None = None, instance: str | None = None) -> str:
    """``studies/S[/series/SE[/instances/I]]`` (UIDs validated; an instance needs its series)."""
    from dicomlab.core.uids import validate_uid

    if instance is not None and series is None:
        raise InvalidIdentifierError(f"instance {instance!r} needs its SeriesInstanceUID too")
    path = f"studies/{validate_uid(study, what='StudyInstanceUID')}"
    if series is not None:
        path += f"/series/{validate_uid(series, what='SeriesInstanceUID')}"
    if instance is not None:
        path += f"/instances/{validate_uid(instance, what='SOPInstanceUID')}"
    return path


def _is_orthanc(session: requests.Session, url: str) -> bool:
    """Whether the server beside ``url`` answers Orthanc's ``GET /system``."""
    import requests

    root = url.rsplit("/", 1)[0]
    try:
        response = session.get(f"{root}/system", timeout=5)
        return response.ok and "ApiVersion" in response.json()
    except (requests.RequestException, ValueError):
        return False
