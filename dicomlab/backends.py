"""Turn ``connect()`` arguments into store, warehouse and bucket adapters.

The only place that reads the environment or decides which adapter to build.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dicomlab.buckets.base import Bucket
from dicomlab.errors import UnsupportedBackendError
from dicomlab.stores.base import Store
from dicomlab.warehouses.base import Warehouse

__all__ = ["open_bucket", "open_store", "open_warehouse"]

STORE_FORMS = (
    "a folder of DICOM files (path or file:// URI), a DICOMweb base URL "
    "(http://…/dicom-web), or None for the sample store"
)
WAREHOUSE_FORMS = "'duckdb:///PATH', a path ending in .duckdb, ':memory:', or None for the default"
BUCKET_FORMS = "a local folder (path or file:// URI), or None for the default"
_LATER = {
    "projects/": "Cloud Healthcare API stores",
    "bq://": "BigQuery warehouses",
    "gs://": "Cloud Storage buckets",
}


def _unsupported(kind: str, spec: str, forms: str) -> UnsupportedBackendError:
    for prefix, what in _LATER.items():
        if spec.startswith(prefix):
            return UnsupportedBackendError(
                f"{kind} {spec!r}: {what} are not supported by this version of dicomlab; "
                f"accepted {kind}s: {forms}"
            )
    return UnsupportedBackendError(f"{kind} {spec!r} is not understood; accepted: {forms}")


def _local_path(spec: str) -> Path | None:
    if spec.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(spec).path))
    if "://" in spec or any(spec.startswith(p) for p in _LATER):
        return None
    return Path(spec)


def open_store(spec: Any, home: Path) -> Store:
    """A store from ``spec``: an adapter object, a folder path or ``None`` (the sample)."""
    from dicomlab.stores.folder import FolderStore

    if spec is None:
        from dicomlab.sample import seed_sample_store

        seed_sample_store(home / "store")
        return FolderStore(home / "store", index_dir=home / ".index")
    if isinstance(spec, Store):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        if _is_google_store(text):
            raise _google_store_error(text)
        if text.startswith(("http://", "https://")):
            from dicomlab.stores.dicomweb import DICOMwebStore

            return DICOMwebStore(text)
        path = _local_path(text)
        if path is not None:
            return FolderStore(path)
    raise _unsupported("store", str(spec), STORE_FORMS)


def _is_google_store(text: str) -> bool:
    return text.startswith(("projects/", "https://healthcare.googleapis.com/"))


def _google_store_error(text: str) -> UnsupportedBackendError:
    """Refuse a Healthcare API store, after checking its name (a bad name says which part)."""
    from dicomlab.resources import HealthcareDicomStore

    store = HealthcareDicomStore.parse(text)
    return UnsupportedBackendError(
        f"store {text!r}: Cloud Healthcare API store {store} needs Google credentials "
        "support, which comes in the next version of dicomlab; for now pass a folder or "
        f"another DICOMweb server's base URL ({STORE_FORMS})"
    )


def open_warehouse(spec: Any, home: Path) -> Warehouse:
    """A warehouse from ``spec``: an adapter object, a DuckDB URI or path, or ``None``."""
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    if spec is None:
        return DuckDBWarehouse(home / "warehouse.duckdb")
    if isinstance(spec, Warehouse):
        return spec
    text = os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else str(spec)
    if text == ":memory:" or text == "duckdb:///:memory:":
        return DuckDBWarehouse(":memory:")
    if text.startswith("duckdb:///"):
        return DuckDBWarehouse(text[len("duckdb:///") :] or home / "warehouse.duckdb")
    if text.endswith((".duckdb", ".db")) and "://" not in text:
        return DuckDBWarehouse(text)
    raise _unsupported("warehouse", text, WAREHOUSE_FORMS)


def open_bucket(spec: Any, home: Path) -> Bucket:
    """A bucket from ``spec``: an adapter object, a local folder or ``None``."""
    from dicomlab.buckets.local import LocalBucket

    if spec is None:
        return LocalBucket(home / "bucket")
    if isinstance(spec, Bucket):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        path = _local_path(os.fspath(spec))
        if path is not None:
            return LocalBucket(path)
    raise _unsupported("bucket", str(spec), BUCKET_FORMS)
