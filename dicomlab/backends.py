"""Turn ``connect()`` arguments into store, warehouse and bucket adapters.

The only place that decides which adapter to build, and that asks for Google
credentials. The environment is read where it is documented: ``$DICOMLAB_HOME``
in :mod:`dicomlab.samples.sample`, ``$DICOMLAB_SHARE`` in :mod:`dicomlab.lab`,
``$DICOMLAB_STORE`` and its siblings in :mod:`dicomlab.cli_parser`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dicomlab.buckets.base import Bucket
from dicomlab.buckets.gcs import GcsBucket
from dicomlab.buckets.local import LocalBucket
from dicomlab.core.resources import HealthcareDicomStore
from dicomlab.errors import CredentialsError, InvalidRequestError, UnsupportedBackendError
from dicomlab.google.healthcare import HealthcareClient
from dicomlab.samples.sample import seed_sample_store
from dicomlab.stores.base import Store
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.folder import FolderStore
from dicomlab.stores.gcsfiles import GcsFileStore
from dicomlab.stores.profiles import GOOGLE
from dicomlab.warehouses.base import Warehouse
from dicomlab.warehouses.bigquery import BigQueryWarehouse

__all__ = ["google_store", "open_bucket", "open_google_store", "open_store", "open_warehouse"]

STORE_FORMS = (
    "a folder of DICOM files (path or file:// URI), a DICOMweb base URL "
    "(http://…/dicom-web), a Cloud Healthcare API store "
    "(projects/P/locations/L/datasets/D/dicomStores/S or its https://healthcare.googleapis.com/"
    "…/dicomWeb URL), DICOM files in Cloud Storage (gs://BUCKET/PREFIX, "
    "gs://BUCKET/PREFIX?anonymous=true for a public bucket), or None for the sample store"
)
WAREHOUSE_FORMS = (
    "'duckdb:///PATH', a path ending in .duckdb, ':memory:', 'bq://PROJECT.DATASET' "
    "(BigQuery), or None for the default"
)
BUCKET_FORMS = (
    "a local folder (path or file:// URI), a Cloud Storage gs://BUCKET[/PREFIX] URI, "
    "or None for the default"
)
_LATER: dict[str, str] = {}


def _unsupported(kind: str, spec: str, forms: str) -> UnsupportedBackendError:
    for prefix, what in _LATER.items():
        if spec.startswith(prefix):
            return UnsupportedBackendError(
                f"{kind} {spec!r}: {what} are not supported by this version of dicomlab; "
                f"accepted {kind}s: {forms}"
            )
    return UnsupportedBackendError(f"{kind} {spec!r} is not understood; accepted: {forms}")


def spec_text(kind: str, spec: object, forms: str) -> str | None:
    """``spec`` as text when it is a ``str`` or path; ``None`` for anything else.

    A NUL byte cannot be in a path or URL: it is refused here, naming the value,
    before the operating system answers with a bare ``ValueError``.
    """
    if not isinstance(spec, (str, os.PathLike)):
        return None
    text = os.fspath(spec)
    if not isinstance(text, str):  # a bytes path: its encoding is a guess
        raise UnsupportedBackendError(
            f"{kind} {spec!r} is a bytes path; pass it as str (os.fsdecode(path)); "
            f"accepted: {forms}"
        )
    if "\0" in text:
        raise UnsupportedBackendError(
            f"{kind} {text!r} holds a NUL character, which no path or URL can hold; "
            f"accepted: {forms}"
        )
    return text


def check_specs(store: object, warehouse: object, bucket: object) -> None:
    """Refuse a bad type or a NUL in any of the three before any of them is opened.

    Opening the store seeds the sample cohort into the data folder: a bad
    warehouse or bucket must be refused before that writes anything.
    """
    for kind, spec, forms, adapter in (
        ("store", store, STORE_FORMS, Store),
        ("warehouse", warehouse, WAREHOUSE_FORMS, Warehouse),
        ("bucket", bucket, BUCKET_FORMS, Bucket),
    ):
        if spec is None or isinstance(spec, adapter):
            continue
        if spec_text(kind, spec, forms) is None:
            raise _unsupported(kind, repr(spec), forms)


def check_home(home: object) -> Path:
    """The data folder from ``connect(home=...)``, checked and resolved."""
    forms = "a folder path (str or pathlib.Path), or None for $DICOMLAB_HOME or the default"
    try:
        text = spec_text("home", home, forms)
    except UnsupportedBackendError as exc:
        raise InvalidRequestError(str(exc), value=home) from None
    if text is None or not text.strip():
        raise InvalidRequestError(f"home={home!r} is not a folder; accepted: {forms}", value=home)
    return Path(text).expanduser().resolve()


def _local_path(spec: str) -> Path | None:
    if spec.startswith("file://"):
        return Path(unquote(urlparse(spec).path))
    if not spec.strip() or "://" in spec or any(spec.startswith(p) for p in _LATER):
        return None  # "" would be the working directory: not what anyone means
    return Path(spec)


def open_store(spec: Any, home: Path) -> Store:
    """A store from ``spec``: an adapter object, a folder, a DICOMweb URL, a Google store name.

    Stores built here cache rendered thumbnails under ``HOME/cache``.
    """
    cache = home / "cache"
    if spec is None:
        seed_sample_store(home / "store")
        return FolderStore(home / "store", index_dir=home / ".index", cache=cache)
    if isinstance(spec, Store):
        return spec
    text = spec_text("store", spec, STORE_FORMS)
    if text is not None:
        if _is_google_store(text):
            return open_google_store(text, cache=cache)
        if text.startswith(("http://", "https://")):
            return DICOMwebStore(text, cache=cache)  # refuses a URL without a server
        if text.startswith("gs://"):
            return GcsFileStore(text, cache=cache)  # the client is made on first use
        path = _local_path(text)
        if path is not None:
            return FolderStore(path, cache=cache)
    raise _unsupported("store", str(spec), STORE_FORMS)


def _is_google_store(text: str) -> bool:
    return text.startswith(("projects/", "https://healthcare.googleapis.com/"))


def open_google_store(name: str, *, credentials: Any = None, cache: Path | None = None) -> Store:
    """A Cloud Healthcare API DICOM store, by name or DICOMweb URL, with Google credentials.

    ``credentials`` default to Application Default Credentials
    (``gcloud auth application-default login``); the session comes from
    dicomweb-client's ``ext.gcp`` helper and refreshes tokens itself.

    >>> open_google_store("projects/p/locations/us/datasets/d/dicomStores/s")  # doctest: +SKIP
    DICOMwebStore('https://healthcare.googleapis.com/v1/projects/p/.../dicomStores/s/dicomWeb')
    """
    store = HealthcareDicomStore.parse(name)  # a bad name says which part is wrong
    version = "v1beta1" if "/v1beta1/" in name else "v1"
    try:
        from dicomweb_client.ext.gcp.session_utils import create_session_from_gcp_credentials
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError as exc:
        raise UnsupportedBackendError(
            f"store {name!r} needs Google's client libraries, which dicomlab installs but are "
            "missing here: pip install google-auth requests, then connect again"
        ) from exc
    try:
        session = create_session_from_gcp_credentials(credentials)
    except DefaultCredentialsError as exc:
        raise CredentialsError(
            f"store {store}: no Google Application Default Credentials found; run "
            "`gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS), "
            "then connect again"
        ) from exc
    return google_store(store.dicomweb_url(version), session, cache=cache)


def google_store(
    dicomweb_url: str, session: Any, *, cache: Path | None = None, **options: Any
) -> DICOMwebStore:
    """A DICOMweb store with Google's profile whose deletes wait on their operations.

    ``dicomweb_url`` is ``…/v1/projects/P/locations/L/datasets/D/dicomStores/S/dicomWeb``
    (a test double's too); the Healthcare API beside it, over the same
    ``session``, is asked about the long-running operation a study or series
    delete starts. ``options`` go to :class:`~dicomlab.stores.dicomweb.DICOMwebStore`.
    """
    api_root = dicomweb_url.split("/projects/", 1)[0]  # …/v1 or …/v1beta1

    def wait(name: str) -> None:
        client = HealthcareClient(session, base_url=api_root, timeout=store.timeout)
        client.get_operation(name).wait(progress=False)

    store = DICOMwebStore(
        dicomweb_url, session=session, profile=GOOGLE, cache=cache, wait_operation=wait, **options
    )
    return store


def open_warehouse(spec: Any, home: Path) -> Warehouse:
    """A warehouse from ``spec``: an adapter object, a DuckDB URI or path, or ``None``."""
    # Importing the DuckDB adapter imports DuckDB itself: only when a warehouse is opened.
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    if spec is None:
        return DuckDBWarehouse(home / "warehouse.duckdb")
    if isinstance(spec, Warehouse):
        return spec
    text = spec_text("warehouse", spec, WAREHOUSE_FORMS)
    if text is None:
        raise _unsupported("warehouse", repr(spec), WAREHOUSE_FORMS)
    if text == ":memory:" or text == "duckdb:///:memory:":
        return DuckDBWarehouse(":memory:")
    if text.startswith("duckdb:///"):
        return DuckDBWarehouse(text[len("duckdb:///") :] or home / "warehouse.duckdb")
    if text.endswith((".duckdb", ".db")) and "://" not in text:
        return DuckDBWarehouse(text)
    if text.startswith("bq://"):
        return BigQueryWarehouse(text)
    raise _unsupported("warehouse", text, WAREHOUSE_FORMS)


def open_bucket(spec: Any, home: Path) -> Bucket:
    """A bucket from ``spec``: an adapter object, a local folder or ``None``."""
    if spec is None:
        return LocalBucket(home / "bucket")
    if isinstance(spec, Bucket):
        return spec
    text = spec_text("bucket", spec, BUCKET_FORMS)
    if text is not None:
        if text.startswith("gs://"):
            return GcsBucket(text)
        path = _local_path(text)
        if path is not None:
            return LocalBucket(path)
    raise _unsupported("bucket", str(spec), BUCKET_FORMS)
