"""One call from a DataFrame of hits to an exported cohort, with a provenance record.

:func:`export_cohort` builds and validates the filter file, uploads it to the
bucket, runs the export and writes a provenance record (JSON,
:mod:`dicomlab.provenance`) next to the filter file. Where it runs depends on
the store:

- a Cloud Healthcare API store: the server exports exactly the filtered set
  (:mod:`dicomlab.google.cohort_export`) to ``bq://PROJECT.DATASET.TABLE`` or
  ``gs://BUCKET/PREFIX``, and the call waits on the long-running operation
  with a progress bar;
- any other store (a folder, Orthanc, …): the client-side equivalent, here. A
  ``bq://…`` destination or a bare table name exports the cohort's metadata
  into the warehouse (the table part of the URI names the table); a
  ``gs://…`` URI or a local folder receives the instances as
  ``STUDY/SERIES/INSTANCE.dcm`` files, never replacing an existing one.

The functions take the store, bucket and warehouse they work on;
:meth:`dicomlab.lab.Lab.export_cohort` passes its own.
"""

from __future__ import annotations

import html
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from dicomlab.buckets.base import Bucket
from dicomlab.buckets.gcs import GcsBucket
from dicomlab.buckets.local import LocalBucket
from dicomlab.core.decisions import REVIEW_ATTRS
from dicomlab.core.filterfile import FilterFile
from dicomlab.core.resources import BigQueryTable, GcsUri, validate_table_name
from dicomlab.core.validation import validate_flag
from dicomlab.errors import (
    AlreadyExistsError,
    DicomlabError,
    FilterFileError,
    UnsupportedBackendError,
)
from dicomlab.export.pipeline import export_store_metadata
from dicomlab.google.cohort_export import export_filtered, healthcare_target
from dicomlab.provenance import QUERY_ATTRS, cohort_record, record_name
from dicomlab.stores.base import InstanceRef, MetadataItem, Store
from dicomlab.stores.bulk import expand_rows, map_bounded
from dicomlab.warehouses.base import Warehouse

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["QUERY_ATTRS", "CohortExport", "check_destination", "export_cohort"]

# Where lab.query / lab.sql leave what produced a DataFrame (pandas keeps attrs on copies).


@dataclass
class CohortExport:
    """What :func:`export_cohort` did, with its provenance record.

    Attributes
    ----------
    filter_uri
        Where the filter file is.
    provenance_uri
        Where the provenance record is (next to the filter file).
    provenance
        The record itself: filter file URI and SHA-256, the query behind the
        DataFrame, the operation or client-side counters, store, destination,
        times and dicomlab version.
    operation
        The Healthcare API operation (server-side exports), else ``None``.
    """

    filter_uri: str
    provenance_uri: str
    provenance: dict[str, Any]
    operation: Any = None
    details: Any = field(default=None, repr=False)

    @property
    def counters(self) -> dict[str, int]:
        """``{"success": n, "failure": m}`` of the export."""
        return dict(self.provenance["result"]["counters"])

    @property
    def complete(self) -> bool:
        """Whether no instance failed (the record and its ``errors`` say which did)."""
        return not self.counters.get("failure", 0)

    def __repr__(self) -> str:
        state = "" if self.complete else ", INCOMPLETE"
        return (
            f"CohortExport({self.provenance['destination']!r}, {self.counters}, "
            f"filter={self.filter_uri!r}{state})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("destination", self.provenance["destination"]),
            ("method", self.provenance["method"]),
            ("counters", json.dumps(self.counters) + ("" if self.complete else " INCOMPLETE")),
            ("filter file", f"{self.filter_uri} ({self.provenance['filter_file']['lines']} lines)"),
            ("provenance", self.provenance_uri),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th>"
            f"<td style='text-align:left'><code>{html.escape(str(v))}</code></td></tr>"
            for k, v in rows
        )
        return f"<div><b>Cohort export</b><table>{body}</table></div>"


def _upload_filter(
    bucket: Bucket, filter_file: FilterFile, name: str | None, overwrite: bool
) -> str:
    """Upload the filter file; an object of that name with the same bytes is reused as it is."""
    target = name or filter_file.content_name()
    try:
        return bucket.upload_bytes(filter_file.to_bytes(), target, overwrite=overwrite)
    except AlreadyExistsError:
        if bucket.download_bytes(target) == filter_file.to_bytes():
            return f"{bucket.url.rstrip('/')}/{target}"
        raise


def _check_level(level: str | None, filter_file: FilterFile, where: str) -> FilterFile:
    """``filter_file``, unless ``level`` asks for another level than it has."""
    if level is not None and level != filter_file.level:
        raise FilterFileError(
            f"level={level!r} but the filter file{where} is at level {filter_file.level!r}; "
            "leave level out or build the filter file again at that level"
        )
    return filter_file


def _uploaded_filter(bucket: Bucket, uri: str, level: str | None) -> FilterFile:
    """The filter file already at ``uri`` in ``bucket``, read back and validated."""
    prefix = f"{bucket.url.rstrip('/')}/"
    if not uri.startswith(prefix) or uri == prefix:
        raise UnsupportedBackendError(
            f"filter file {uri!r} is not in the lab's bucket {bucket.url}; upload it with "
            "lab.upload(filter_file, name) and pass the URI that returns"
        )
    filter_file = FilterFile.parse(bucket.download_bytes(uri[len(prefix) :]).decode("utf-8"))
    return _check_level(level, filter_file, f" {uri}")


def _cohort_filter(
    bucket: Bucket, cohort: pd.DataFrame | FilterFile | str, level: str | None
) -> tuple[FilterFile, str | None, Any]:
    """``(filter file, its URI if already uploaded, the query behind it)`` for a cohort."""
    import pandas as pd  # heavy: only once a cohort is exported

    if isinstance(cohort, str):
        return _uploaded_filter(bucket, cohort, level), cohort, None
    if isinstance(cohort, FilterFile):
        return _check_level(level, cohort, ""), None, None
    if not isinstance(cohort, pd.DataFrame):
        raise UnsupportedBackendError(
            f"export_cohort takes a DataFrame, a FilterFile or a filter file URI, "
            f"not {type(cohort).__name__}"
        )
    filter_file = FilterFile.from_dataframe(cohort, level)  # type: ignore[arg-type]
    return filter_file, None, cohort.attrs.get(QUERY_ATTRS)


def check_destination(destination: object, *, server_side: bool) -> str:
    """``destination`` if it is one :func:`export_cohort` can write to, else a clear error.

    >>> check_destination("bq://my-project.imaging.cohort", server_side=True)
    'bq://my-project.imaging.cohort'
    >>> check_destination("cohort_ct", server_side=False)
    'cohort_ct'
    """
    if not isinstance(destination, str) or not destination.strip() or "\0" in destination:
        raise UnsupportedBackendError(
            f"destination {destination!r} is empty, not text, or holds a NUL character; "
            "give bq://PROJECT.DATASET.TABLE, gs://BUCKET/PREFIX, a table name or a folder"
        )
    if destination.startswith("bq://"):
        BigQueryTable.parse(destination)
    elif destination.startswith("gs://"):
        GcsUri.parse(destination)
    elif server_side:
        raise UnsupportedBackendError(
            f"destination {destination!r}: a Cloud Healthcare store exports to "
            "bq://PROJECT.DATASET.TABLE or gs://BUCKET/PREFIX"
        )
    elif _is_table_name(destination):
        validate_table_name(destination)
    elif "://" in destination and not destination.startswith("file://"):
        raise UnsupportedBackendError(
            f"destination {destination!r} is not understood; give bq://PROJECT.DATASET.TABLE, "
            "gs://BUCKET/PREFIX, a table name or a folder"
        )
    return destination


def _is_table_name(destination: str) -> bool:
    """A bare name (no path, dots or scheme): a table of the warehouse."""
    return not any(c in destination for c in "/.:")


def _filter_name(bucket: Bucket, uploaded: str | None, name: str | None) -> str | None:
    """The filter file's object name: ``name``, or where it already is in the bucket."""
    if uploaded is None:
        return name
    object_name = uploaded[len(bucket.url.rstrip("/")) + 1 :]
    if name is not None and name != object_name:
        raise UnsupportedBackendError(
            f"name={name!r} but the filter file is already uploaded as {uploaded}; "
            "leave name out to export it as it is"
        )
    return object_name  # the provenance record goes beside it


def export_cohort(
    store: Store,
    bucket: Bucket,
    warehouse: Warehouse,
    cohort: pd.DataFrame | FilterFile | str,
    *,
    destination: str,
    level: str | None = None,
    name: str | None = None,
    overwrite: bool = False,
    write_disposition: str = "WRITE_EMPTY",
    mime_type: str | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> CohortExport:
    """Export exactly the instances ``cohort`` names to ``destination`` (see the module docstring).

    Parameters
    ----------
    store
        Where the instances are.
    bucket
        Where the filter file and the provenance record are written.
    warehouse
        Where client-side metadata exports (``bq://…`` or a table name) go.
    cohort
        Hits with ``StudyInstanceUID`` (and ``SeriesInstanceUID``, ``SOPInstanceUID``);
        or a :class:`~dicomlab.core.filterfile.FilterFile`; or the URI of a filter
        file already in ``bucket`` (``Lab.upload`` returns it), which is exported
        as it is, without another upload.
    destination
        ``bq://PROJECT.DATASET.TABLE``, ``gs://BUCKET/PREFIX``, a table name or
        a local folder (client-side only).
    level
        Filter-file level: ``"study"``, ``"series"``, ``"instance"``; the
        finest the columns allow when ``None``.
    name
        The filter file's object name in the bucket (content-derived when
        ``None``; an object there with the same bytes is reused); each run's
        provenance record is saved beside it as
        ``NAME.<UTC time>.provenance.json``.
    overwrite
        Replace an existing filter file or provenance record of that name.
    write_disposition
        For BigQuery and warehouse destinations.
    mime_type
        For Cloud Storage exports of a Healthcare store (original files when ``None``).
    timeout
        Seconds to wait for a Healthcare operation.
    progress
        Show a progress bar.

    Examples
    --------
    >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    >>> done = export_cohort(lab.store, lab.bucket, lab.warehouse, hits,
    ...                      destination="cohort_mr", progress=False)
    >>> done.counters, done.provenance["method"]
    ({'success': 7, 'failure': 0}, 'client-side-metadata')
    >>> len(lab.sql("SELECT * FROM dicom_metadata", table="cohort_mr"))
    7
    """
    overwrite = validate_flag(overwrite, "overwrite")
    progress = validate_flag(progress, "progress")
    filter_file, uploaded, query = _cohort_filter(bucket, cohort, level)
    if not len(filter_file):
        raise DicomlabError("the cohort names no instance: nothing to export")
    begun, clock = datetime.now(timezone.utc), time.perf_counter()
    google = healthcare_target(store)
    check_destination(destination, server_side=google is not None)  # before anything is written
    name = _filter_name(bucket, uploaded, name)
    filter_uri = uploaded or _upload_filter(bucket, filter_file, name, overwrite)
    if google is not None:
        method, details, result = export_filtered(
            google,
            filter_uri,
            destination,
            write_disposition=write_disposition,
            mime_type=mime_type,
            timeout=timeout,
            progress=progress,
        )
    else:
        method, details, result = _client_side(
            store, warehouse, filter_file, destination, write_disposition, progress
        )
    record = cohort_record(
        method=method,
        store=store.url,
        destination=destination,
        level=filter_file.level,
        filter_uri=filter_uri,
        filter_bytes=filter_file.to_bytes(),
        filter_lines=len(filter_file),
        query=query,
        review=getattr(cohort, "attrs", {}).get(REVIEW_ATTRS),
        result=result,
        started=begun,
        seconds=time.perf_counter() - clock,
    )
    provenance_uri = bucket.upload_bytes(
        json.dumps(record, indent=2, default=str).encode(),
        record_name(name or filter_uri.rsplit("/", 1)[-1], begun),
        overwrite=overwrite,
        content_type="application/json",
    )
    operation = details if method == "healthcare-export" else None
    return CohortExport(filter_uri, provenance_uri, dict(record), operation, details)


# ---- client side: any store -----------------------------------------------------------------


def _filter_refs(store: Store, filter_file: FilterFile) -> tuple[list[InstanceRef], list[Any]]:
    """Every instance the filter file's lines name (searched for study and series lines)."""
    import pandas as pd  # heavy: only once a cohort is exported

    records = []
    for line in filter_file:
        parts = line.strip("/").split("/")[1::2]
        records.append(
            dict(
                zip(
                    ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"), parts, strict=False
                )
            )
        )
    return expand_rows(pd.DataFrame(records), store, "cohorts")


class _CohortStore:
    """The cohort's instances of ``store`` as a store that export can read (DICOM JSON)."""

    def __init__(self, store: Store, refs: list[InstanceRef]) -> None:
        self.store, self.refs = store, refs

    @property
    def url(self) -> str:
        return self.store.url

    def count_instances(self) -> int:
        return len(self.refs)

    def iter_json(self, *, counted: Callable[[int], None] | None = None) -> Iterator[MetadataItem]:
        """Each instance's metadata, read one series at a time (``counted``: not called,
        :meth:`count_instances` knows)."""
        series: dict[tuple[str, str], set[str]] = {}
        for ref in self.refs:
            series.setdefault((ref.study, ref.series), set()).add(ref.instance)
        for (study, uid), wanted in series.items():
            source = f"studies/{study}/series/{uid}"
            try:
                items = self.store.fetch_metadata(study, uid)
            except DicomlabError as exc:  # the store could not be read: not the instances' fault
                yield MetadataItem(source, error=str(exc), transport=True)
                continue
            for item in items:
                instance = item.get("00080018", {}).get("Value", [""])[0]
                if instance in wanted:
                    yield MetadataItem(f"{source}/instances/{instance}", json=item)

    def iter_metadata(self) -> Iterator[MetadataItem]:
        return self.iter_json()


def _client_side(
    store: Store,
    warehouse: Warehouse,
    filter_file: FilterFile,
    destination: str,
    write_disposition: str,
    progress: bool,
) -> tuple[str, Any, dict[str, Any]]:
    """Export the cohort from this machine: metadata into the warehouse, or files into a bucket."""
    refs, failures = _filter_refs(store, filter_file)
    if destination.startswith("bq://") or _is_table_name(destination):
        table = BigQueryTable.parse(destination).table_id if "://" in destination else destination
        cohort: Any = _CohortStore(store, refs)
        exported = export_store_metadata(
            cohort,
            warehouse,
            table=table,
            write_disposition=write_disposition,
            progress=progress,
            workers=1,
        )
        counters = {"success": exported.success, "failure": exported.failure + len(failures)}
        result = {"table": f"{warehouse.url}#{table}", "counters": counters}
        return "client-side-metadata", exported, result
    return _copy_instances(store, refs, failures, destination, progress)


def _destination_bucket(destination: str) -> Bucket:
    """The bucket a client-side copy writes into: ``gs://…``, ``file://…`` or a folder."""
    if destination.startswith("gs://"):
        return GcsBucket(destination)
    if destination.startswith("file://"):
        return LocalBucket(unquote(urlsplit(destination).path))
    return LocalBucket(Path(destination))


def _copy_instances(
    store: Store, refs: list[InstanceRef], failures: list[Any], destination: str, progress: bool
) -> tuple[str, Any, dict[str, Any]]:
    """Copy the instances as Part 10 files into a bucket (gs:// or a folder), never replacing."""
    bucket = _destination_bucket(destination)
    workers = store.thumbnail_concurrency

    def one(ref: InstanceRef) -> str:
        name = f"{ref.study}/{ref.series}/{ref.instance}.dcm"
        try:
            buffer = io.BytesIO()
            store.fetch_instance(ref).save_as(buffer, enforce_file_format=True)
            bucket.upload_bytes(buffer.getvalue(), name, content_type="application/dicom")
        except AlreadyExistsError:
            return "skipped"
        except (DicomlabError, OSError, ValueError) as exc:
            return f"failed: {exc}"
        return "copied"

    outcomes = map_bounded(
        one, refs, workers=workers, desc="Copying", unit="instance", progress=progress
    )
    counters = {
        "success": outcomes.count("copied"),
        "skipped": outcomes.count("skipped"),
        "failure": len(failures) + sum(o.startswith("failed") for o in outcomes),
    }
    problems = [o for o in outcomes if o.startswith("failed")][:5]
    return (
        "client-side-copy",
        outcomes,
        {"bucket": bucket.url, "counters": counters, "errors": problems},
    )
