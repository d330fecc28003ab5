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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicomlab.errors import NotFoundError, RemoteError
from dicomlab.stores.base import InstanceRef, MetadataItem

if TYPE_CHECKING:
    import pandas as pd
    import requests
    from dicomweb_client import DICOMwebClient
    from pydicom import Dataset

__all__ = ["DICOMwebStore", "StowResult"]

logger = logging.getLogger(__name__)
SERVICE = "DICOMweb"
PAGE_SIZE = 1000
STOW_BATCH = 20
# Statuses for which a server is taken to be unable to render an instance.
RENDER_FALLBACK_STATUSES = frozenset({400, 406, 500})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Characters legal in a query that some servers (Orthanc) only understand unencoded.
_RAW_QUERY = {"%2A": "*", "%2a": "*", "%2C": ",", "%2c": ","}
_UIDS = {"study": "0020000D", "series": "0020000E", "instance": "00080018"}


def _unquote_query(url: str) -> str:
    """``url`` with ``*`` and ``,`` sent literally in its query.

    >>> _unquote_query("http://h/dicom-web/studies?PatientID=7765%2A&viewport=64%2C64")
    'http://h/dicom-web/studies?PatientID=7765*&viewport=64,64'
    """
    base, sep, query = url.partition("?")
    for encoded, raw in _RAW_QUERY.items():
        query = query.replace(encoded, raw)
    return base + sep + query


def _retry(max_attempts: int, backoff: float) -> Any:
    """urllib3's retry policy: back off exponentially, honour ``Retry-After``.

    Retried: connection failures and 408, 429, 500, 502, 503, 504 answers, for
    requests that are safe to repeat (GET, HEAD, DELETE; STOW's POST is not
    retried by the transport). After the last attempt the answer is returned
    as is, so the caller sees the server's status.
    """
    from urllib3.util.retry import Retry

    return Retry(
        total=max_attempts - 1,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD", "DELETE"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def _raw_query_adapter(max_attempts: int, backoff: float) -> requests.adapters.HTTPAdapter:
    """A transport that retries and sends ``*`` and ``,`` in query strings unencoded."""
    from requests.adapters import HTTPAdapter

    class RawQueryAdapter(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            request.url = _unquote_query(request.url)
            return super().send(request, *args, **kwargs)

    return RawQueryAdapter(max_retries=_retry(max_attempts, backoff))


@contextlib.contextmanager
def _translated(resource: str) -> Iterator[None]:
    """Turn ``requests`` failures inside the block into dicomlab errors about ``resource``."""
    import requests

    try:
        yield
    except requests.HTTPError as exc:
        status = _http_status(exc)
        detail = (exc.response.text[:200].strip() if exc.response is not None else "") or str(exc)
        if status == 404:
            raise NotFoundError(f"{resource} was not found on the DICOMweb server") from exc
        raise RemoteError(
            f"DICOMweb request for {resource} failed with HTTP {status}: {detail}",
            service=SERVICE,
            resource=resource,
            status=status,
        ) from exc
    except requests.RequestException as exc:
        raise RemoteError(
            f"DICOMweb request for {resource} failed: {type(exc).__name__}: {exc}",
            service=SERVICE,
            resource=resource,
        ) from exc


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


def _uid(item: dict[str, Any], level: str) -> str:
    value: str = item[_UIDS[level]]["Value"][0]
    return value


def instance_path(ref: InstanceRef) -> str:
    """The WADO-RS path of an instance, relative to the base URL.

    >>> instance_path(InstanceRef("1.2", "1.2.3", "1.2.3.4"))
    'studies/1.2/series/1.2.3/instances/1.2.3.4'
    """
    return f"studies/{ref.study}/series/{ref.series}/instances/{ref.instance}"


@dataclass
class StowResult:
    """What a STOW-RS upload did: SOP Instance UIDs stored, and ``(source, reason)`` failures.

    >>> r = StowResult(stored=["1.2.3"], failures=[("a.dcm", "not DICOM")])
    >>> r.counter
    {'success': 1, 'failure': 1}
    """

    stored: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def counter(self) -> dict[str, int]:
        """``{"success": n, "failure": m}``."""
        return {"success": len(self.stored), "failure": len(self.failures)}


class DICOMwebStore:
    """A DICOMweb server at base URL ``url`` (e.g. ``http://127.0.0.1:8042/dicom-web``).

    Parameters
    ----------
    url
        The DICOMweb base URL (QIDO, WADO and STOW share it).
    session
        A ready ``requests.Session`` (authentication lives there); a new one if ``None``.
    headers
        Extra headers sent with every request (e.g. ``Authorization``).
    timeout
        ``(connect, read)`` seconds for each request.
    max_attempts
        Attempts per request: connection failures and 408, 429, 500, 502, 503
        and 504 answers are retried with exponential back-off (``backoff`` ×
        1, 2, 4… seconds, at most 30), waiting as long as a ``Retry-After``
        header asks. ``1`` fails at once.
    backoff
        The first back-off in seconds.

    Examples
    --------
    >>> store = DICOMwebStore("http://127.0.0.1:8042/dicom-web")      # doctest: +SKIP
    >>> store.search_studies(PatientID="77654033")                    # doctest: +SKIP
    """

    # Rendered thumbnails in flight at once (Orthanc's throughput doubles from 1 to 8).
    thumbnail_concurrency = 8

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | tuple[float, float] = (5, 60),
        max_attempts: int = 5,
        backoff: float = 0.5,
    ) -> None:
        import requests
        from dicomweb_client import DICOMwebClient

        self._url = url.rstrip("/")
        session = session if session is not None else requests.Session()
        # Scoped to this server: a caller's session keeps its behaviour elsewhere.
        session.mount(self._url + "/", _raw_query_adapter(max(1, max_attempts), backoff))
        self.client: DICOMwebClient = DICOMwebClient(
            self._url, session=session, headers=headers, timeout=timeout
        )
        # Retries live in the transport (it honours Retry-After); none on top of them.
        self.client.set_http_retry_params(retry=False)

    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"DICOMwebStore({self._url!r})"

    def _pages(
        self, search: Callable[..., list[dict[str, Any]]], resource: str, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Every QIDO result, fetched ``PAGE_SIZE`` at a time until a page comes back empty."""
        offset = 0
        while True:
            with _translated(resource):
                page = search(limit=PAGE_SIZE, offset=offset, **kwargs)
            if not page:
                return
            yield from page
            offset += len(page)

    def _search(
        self, level: str, filters: dict[str, str], fields: Sequence[str] | None
    ) -> pd.DataFrame:
        import pandas as pd

        from dicomlab.dicomjson import to_records

        search = getattr(self.client, f"search_for_{level}")
        found = self._pages(
            search, level, search_filters=filters or None, fields=list(fields) if fields else None
        )
        result: pd.DataFrame = pd.DataFrame(to_records(found))
        return result

    def search_studies(self, fields: Sequence[str] | None = None, **filters: str) -> pd.DataFrame:
        """Studies matching DICOM keyword filters, one row each.

        >>> store.search_studies(StudyDate="19970101-20041231")        # doctest: +SKIP
        """
        return self._search("studies", filters, fields)

    def search_series(self, fields: Sequence[str] | None = None, **filters: str) -> pd.DataFrame:
        """Series matching DICOM keyword filters, e.g. ``Modality="MR"``."""
        return self._search("series", filters, fields)

    def search_instances(self, fields: Sequence[str] | None = None, **filters: str) -> pd.DataFrame:
        """Instances matching DICOM keyword filters, e.g. ``PatientID="77654033"``."""
        return self._search("instances", filters, fields)

    def count_instances(self) -> int:
        """How many instances the server holds (counted through QIDO pages)."""
        pages = self._pages(self.client.search_for_instances, "instances", fields=["00080018"])
        return sum(1 for _ in pages)

    def iter_series(self) -> Iterator[tuple[str, str]]:
        """``(StudyInstanceUID, SeriesInstanceUID)`` of every series."""
        for item in self._pages(self.client.search_for_series, "series", fields=["0020000D"]):
            yield _uid(item, "study"), _uid(item, "series")

    def iter_json(self) -> Iterator[MetadataItem]:
        """Every instance's DICOM JSON (``MetadataItem.json``), one WADO-RS request per series.

        A series whose metadata cannot be read becomes one failure item named
        after the series; the other series are still read.
        """
        for study, series in self.iter_series():
            resource = f"studies/{study}/series/{series}/metadata"
            try:
                with _translated(resource):
                    items = self.client.retrieve_series_metadata(study, series)
            except (RemoteError, NotFoundError) as exc:
                yield MetadataItem(resource, error=str(exc))
                continue
            for meta in items:
                source = f"studies/{study}/series/{series}/instances/{_uid(meta, 'instance')}"
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

    def fetch_instance(self, ref: InstanceRef) -> Dataset:
        """One instance with its pixel data (WADO-RS)."""
        with _translated(instance_path(ref)):
            return self.client.retrieve_instance(ref.study, ref.series, ref.instance)

    def fetch_thumbnail(
        self, ref: InstanceRef, *, size: int = 128, media_type: str = "image/png", **options: Any
    ) -> bytes:
        """The server's rendering of the first frame, fitted in ``size``×``size``.

        Falls back to rendering locally (:func:`dicomlab.render.render_dataset`)
        when the server answers 400, 406 or 500 (e.g. no pixel data, colour
        JPEG 2000), or when rendering ``options`` are given.
        """
        if not options:
            try:
                with _translated(f"{instance_path(ref)}/rendered"):
                    return self.client.retrieve_instance_rendered(
                        ref.study,
                        ref.series,
                        ref.instance,
                        media_types=(media_type,),
                        params={"viewport": f"{size},{size}"},
                    )
            except (RemoteError, NotFoundError) as exc:
                if _status(exc) not in RENDER_FALLBACK_STATUSES:
                    raise
                logger.debug("server cannot render %s; rendering locally: %s", ref.instance, exc)
        from dicomlab.render import render_dataset

        return render_dataset(self.fetch_instance(ref), size=size, media_type=media_type, **options)

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
        from itertools import islice

        result = StowResult()
        iterator = iter(paths)
        while batch := list(islice(iterator, batch_size)):
            datasets = _read_batch(batch, result)
            if datasets:
                self._store_batch(datasets, result)
        return result

    def _store_batch(self, datasets: dict[str, Dataset], result: StowResult) -> None:
        """Send one batch; record what the server stored and refused."""
        import requests

        try:
            with _translated("studies"):
                try:
                    response = self.client.store_instances(list(datasets.values()))
                except requests.HTTPError as exc:
                    body = _json_body(exc.response)
                    if body is None or _http_status(exc) not in (400, 409):
                        raise
                    response = body
        except RemoteError as exc:
            result.failures.extend((uid, str(exc)) for uid in datasets)
            return
        _record_stow(response, datasets, result)


def _read_batch(batch: list[str | os.PathLike[str]], result: StowResult) -> dict[str, Dataset]:
    """The readable files of ``batch`` by SOPInstanceUID; unreadable ones become failures."""
    from pydicom import dcmread

    datasets: dict[str, Dataset] = {}
    for path in batch:
        try:
            ds = dcmread(path)
            datasets[str(ds.SOPInstanceUID)] = ds
        except Exception as exc:  # a bad file is reported, never fatal
            reason = str(exc).split(" Use force=True")[0]
            result.failures.append((os.fspath(path), f"not readable as DICOM: {reason}"))
    return datasets


def _json_body(response: requests.Response | None) -> Dataset | None:
    """A STOW response body as a Dataset, if it is DICOM JSON."""
    from pydicom import Dataset

    if response is None:
        return None
    try:
        return Dataset.from_json(response.json())
    except ValueError:
        return None


def _record_stow(response: Dataset, sent: dict[str, Dataset], result: StowResult) -> None:
    """Read ReferencedSOPSequence and FailedSOPSequence of a STOW response into ``result``."""
    stored = [
        str(item.ReferencedSOPInstanceUID) for item in response.get("ReferencedSOPSequence", [])
    ]
    failed = {
        str(item.ReferencedSOPInstanceUID): str(item.get("FailureReason", "unknown"))
        for item in response.get("FailedSOPSequence", [])
    }
    result.stored.extend(stored)
    result.failures.extend(
        (uid, f"refused by the server (FailureReason {reason})") for uid, reason in failed.items()
    )
    missing = set(sent) - set(stored) - set(failed)
    result.failures.extend((uid, "not acknowledged by the server") for uid in sorted(missing))
