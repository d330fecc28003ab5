"""Cohorts on Google Cloud: the server-side export of a filtered store, and filter files
built in BigQuery.

:func:`healthcare_target` says whether a store is a Cloud Healthcare API DICOM
store; if so, :func:`export_filtered` has the server export exactly the
instances a filter file (in Cloud Storage) names, with ``dicomStores.export``
and ``filterConfig.resourcePathsGcsUri``, to ``bq://PROJECT.DATASET.TABLE`` or
``gs://BUCKET/PREFIX``, and waits on the long-running operation.
:func:`cloud_filter_file` builds a filter file in BigQuery, extracts it to
Cloud Storage and validates its first lines. :mod:`dicomlab.cohort` calls these; the
client-side equivalents for every other store live there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dicomlab.buckets.base import Bucket
from dicomlab.buckets.gcs import GcsBucket
from dicomlab.core.filterfile import FilterFile
from dicomlab.core.queries import filter_lines_sql, load_query
from dicomlab.core.resources import GcsUri
from dicomlab.errors import AlreadyExistsError, DicomlabError, UnsupportedBackendError
from dicomlab.google.healthcare import HealthcareClient
from dicomlab.google.operations import Operation
from dicomlab.stores.base import Store
from dicomlab.warehouses.base import Warehouse
from dicomlab.warehouses.bigquery import BigQueryWarehouse

__all__ = [
    "HealthcareTarget",
    "check_cloud_filter_file",
    "cloud_filter_file",
    "export_filtered",
    "healthcare_target",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthcareTarget:
    """A Cloud Healthcare API DICOM store: the admin client and the store's resource name."""

    client: HealthcareClient
    store_name: str


def healthcare_target(store: Store) -> HealthcareTarget | None:
    """The Healthcare API behind ``store``, or ``None`` when it is another kind of store.

    >>> healthcare_target(lab.store) is None
    True
    """
    access = store.healthcare_access()
    if access is None:
        return None
    return HealthcareTarget(HealthcareClient(access.session, base_url=access.api_root), access.name)


def _start_export(
    target: HealthcareTarget,
    filter_uri: str,
    destination: str,
    write_disposition: str,
    mime_type: str | None,
) -> Operation:
    """Ask the server to export what the filter file names; the operation it started."""
    if not filter_uri.startswith("gs://"):
        raise UnsupportedBackendError(
            f"a Cloud Healthcare export reads its filter file from Cloud Storage, but the lab's "
            f"bucket put it at {filter_uri!r}: connect(bucket='gs://BUCKET/PREFIX')"
        )
    client, store = target.client, target.store_name
    if destination.startswith("bq://"):
        return client.export_to_bigquery(
            store, destination, write_disposition=write_disposition, filter_uri=filter_uri
        )
    if destination.startswith("gs://"):
        return client.export_to_gcs(store, destination, mime_type=mime_type, filter_uri=filter_uri)
    raise UnsupportedBackendError(
        f"destination {destination!r}: a Cloud Healthcare store exports to "
        "bq://PROJECT.DATASET.TABLE or gs://BUCKET/PREFIX"
    )


def export_filtered(
    target: HealthcareTarget,
    filter_uri: str,
    destination: str,
    *,
    write_disposition: str,
    mime_type: str | None,
    timeout: float | None,
    progress: bool,
) -> tuple[str, Operation, dict[str, Any]]:
    """Export the instances ``filter_uri`` names and wait for the server to finish.

    Returns
    -------
    tuple
        ``("healthcare-export", operation, result)``: the method's name for the
        provenance record, the finished operation, and the record's ``result``
        (operation name, success and failure counters, Cloud Logging URL).

    Raises
    ------
    UnsupportedBackendError
        The filter file is not in Cloud Storage, or ``destination`` is neither
        ``bq://…`` nor ``gs://…``.
    OperationError, OperationTimeoutError
        The operation failed, or did not finish within ``timeout`` seconds.
    """
    operation = _start_export(target, filter_uri, destination, write_disposition, mime_type)
    operation.wait(timeout=timeout, progress=progress)
    result = {
        "operation": operation.name,
        "counters": {"success": operation.counters.success, "failure": operation.counters.failure},
        "logs_url": operation.logs_url,
    }
    return "healthcare-export", operation, result


def cloud_filter_file(
    warehouse: Warehouse,
    bucket: Bucket,
    name: str,
    uri: str,
    *,
    table: str,
    level: str,
    overwrite: bool,
    params: dict[str, Any],
) -> str:
    """Build the filter file of canned query ``name`` in BigQuery and extract it to ``uri``.

    The query runs over ``table`` of the BigQuery ``warehouse``; its rows become
    filter-file lines at ``level`` and are extracted to ``uri`` (``gs://…``),
    read back through ``bucket``'s Cloud Storage client when it has one.
    See :meth:`dicomlab.lab.Lab.filter_file_in_cloud`.
    """
    if not isinstance(warehouse, BigQueryWarehouse):
        raise UnsupportedBackendError(
            f"filter_file_in_cloud runs in BigQuery, but the warehouse is "
            f"{warehouse.url}: connect(warehouse='bq://PROJECT.DATASET'), or build "
            "the filter file here with dicomlab.FilterFile.from_dataframe(lab.query(...))"
        )
    query = load_query(name)
    bound = query.bind(params)
    source = query.to_bigquery(warehouse.table_id(table))
    declared = {p.name: p.type for p in query.parameters}
    storage = bucket.storage_client()
    return check_cloud_filter_file(
        warehouse,
        filter_lines_sql(source, level),
        bound,
        declared,
        uri,
        overwrite,
        storage_client=storage,
    )


def check_cloud_filter_file(
    warehouse: Any,
    sql: str,
    params: dict[str, Any],
    declared: dict[str, str],
    uri: str,
    overwrite: bool,
    *,
    storage_client: Any = None,
    check_lines: int = 1000,
) -> str:
    """Extract the lines of ``sql`` to ``uri`` and validate the object's first lines.

    ``warehouse`` is a BigQuery warehouse (it runs ``sql`` with ``params`` and
    extracts the rows to ``uri``); the object is read back through
    ``storage_client`` (Application Default Credentials when ``None``).
    Returns ``uri`` as it was written.
    """
    target = GcsUri.parse(uri)
    folder, _, leaf = target.object_name.rpartition("/")
    if not leaf:
        raise DicomlabError(f"{uri!r} names a folder; give the filter file's object name")
    bucket = GcsBucket(GcsUri(target.bucket, folder), client=storage_client)
    if not overwrite and bucket.exists(leaf):
        raise AlreadyExistsError(
            f"{uri} already exists; pass overwrite=True to replace it or choose another name"
        )
    lines = warehouse.extract_lines(sql, params, declared, str(target))
    head = bucket.download_bytes(leaf)[: 200 * check_lines].decode("ascii", "replace")
    first = head.splitlines()[:check_lines]
    FilterFile.parse("\n".join(first) + "\n")  # raises FilterFileError naming the bad line
    logger.info("filter file %s: %d lines, first %d checked", uri, lines, len(first))
    return str(target)
