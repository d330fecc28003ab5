"""One call from a DataFrame of hits to an exported cohort, with a provenance record.

:func:`export_cohort` builds and validates the filter file, uploads it to the
lab's bucket, runs the export and writes a provenance record (JSON) next to
the filter file. Where it runs depends on the store:

- a Cloud Healthcare API store: the server exports exactly the filtered set
  (``dicomStores.export`` with ``filterConfig.resourcePathsGcsUri``) to
  ``bq://PROJECT.DATASET.TABLE`` or ``gs://BUCKET/PREFIX``, and the call waits
  on the long-running operation with a progress bar;
- any other store (a folder, Orthanc, …): the client-side equivalent. A
  ``bq://…`` destination or a bare table name exports the cohort's metadata
  into the lab's warehouse (the table part of the URI names the table); a
  ``gs://…`` URI or a local folder receives the instances as
  ``STUDY/SERIES/INSTANCE.dcm`` files, never replacing an existing one.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomlab.core.validation import validate_flag
from dicomlab.errors import AlreadyExistsError, DicomlabError, UnsupportedBackendError
from dicomlab.redaction import redact_values
from dicomlab.stores.base import InstanceRef, MetadataItem

if TYPE_CHECKING:
    import pandas as pd

    from dicomlab.core.filterfile import FilterFile
    from dicomlab.lab import Lab
    from dicomlab.stores.base import Store

__all__ = ["QUERY_ATTRS", "CohortExport", "check_destination", "export_cohort"]

logger = logging.getLogger(__name__)
# Where lab.query / lab.sql leave what produced a DataFrame (pandas keeps attrs on copies).
QUERY_ATTRS = "dicomlab.query"


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

    def __repr__(self) -> str:
        return (
            f"CohortExport({self.provenance['destination']!r}, {self.counters}, "
            f"filter={self.filter_uri!r})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("destination", self.provenance["destination"]),
            ("method", self.provenance["method"]),
            ("counters", json.dumps(self.counters)),
            ("filter file", f"{self.filter_uri} ({self.provenance['filter_file']['lines']} lines)"),
            ("provenance", self.provenance_uri),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th>"
            f"<td style='text-align:left'><code>{html.escape(str(v))}</code></td></tr>"
            for k, v in rows
        )
        return f"<div><b>Cohort export</b><table>{body}</table></div>"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _upload_filter(lab: Lab, filter_file: FilterFile, name: str | None, overwrite: bool) -> str:
    """Upload the filter file; an object of that name with the same bytes is reused as it is."""
    target = name or filter_file.content_name()
    try:
        return lab.bucket.upload_bytes(filter_file.to_bytes(), target, overwrite=overwrite)
    except AlreadyExistsError:
        if lab.bucket.download_bytes(target) == filter_file.to_bytes():
            return f"{lab.bucket.url.rstrip('/')}/{target}"
        raise


def _uploaded_filter(lab: Lab, uri: str, level: str | None) -> FilterFile:
    """The filter file already at ``uri`` in the lab's bucket, read back and validated."""
    from dicomlab.core.filterfile import FilterFile
    from dicomlab.errors import FilterFileError

    prefix = f"{lab.bucket.url.rstrip('/')}/"
    if not uri.startswith(prefix) or uri == prefix:
        raise UnsupportedBackendError(
            f"filter file {uri!r} is not in the lab's bucket {lab.bucket.url}; upload it with "
            "lab.upload(filter_file, name) and pass the URI that returns"
        )
    filter_file = FilterFile.parse(lab.bucket.download_bytes(uri[len(prefix) :]).decode("utf-8"))
    if level is not None and level != filter_file.level:
        raise FilterFileError(
            f"level={level!r} but the filter file {uri} is at level {filter_file.level!r}; "
            "leave level out or build the filter file again at that level"
        )
    return filter_file


def _cohort_filter(
    lab: Lab, cohort: pd.DataFrame | FilterFile | str, level: str | None
) -> tuple[FilterFile, str | None, Any]:
    """``(filter file, its URI if already uploaded, the query behind it)`` for a cohort."""
    import pandas as pd

    from dicomlab.core.filterfile import FilterFile

    if isinstance(cohort, str):
        return _uploaded_filter(lab, cohort, level), cohort, None
    if not isinstance(cohort, (FilterFile, pd.DataFrame)):
        raise UnsupportedBackendError(
            f"export_cohort takes a DataFrame, a FilterFile or a filter file URI, "
            f"not {type(cohort).__name__}"
        )
    if isinstance(cohort, FilterFile):
        if level is not None and level != cohort.level:
            from dicomlab.errors import FilterFileError

            raise FilterFileError(
                f"level={level!r} but the filter file is at level {cohort.level!r}; "
                "leave level out or build the filter file again at that level"
            )
        return cohort, None, None
    filter_file = FilterFile.from_dataframe(cohort, level)  # type: ignore[arg-type]
    return filter_file, None, cohort.attrs.get(QUERY_ATTRS)


def check_destination(destination: object, *, server_side: bool) -> str:
    """``destination`` if it is one :func:`export_cohort` can write to, else a clear error.

    >>> check_destination("bq://my-project.imaging.cohort", server_side=True)
    'bq://my-project.imaging.cohort'
    >>> check_destination("cohort_ct", server_side=False)
    'cohort_ct'
    """
    from dicomlab.core.resources import BigQueryTable, GcsUri, validate_table_name

    if not isinstance(destination, str) or not destination.strip():
        raise UnsupportedBackendError(
            f"destination {destination!r} is empty; give bq://PROJECT.DATASET.TABLE, "
            "gs://BUCKET/PREFIX, a table name or a folder"
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
    """A bare name (no path, dots or scheme): a table of the lab's warehouse."""
    return not any(c in destination for c in "/.:")


def _provenance_name(filter_name: str, when: datetime) -> str:
    """``STEM.YYYYMMDDTHHMMSSffffffZ.provenance.json``: one record per run, never replaced.

    >>> _provenance_name("cohorts/lung.txt", datetime(2026, 1, 2, 3, 4, 5, 6, timezone.utc))
    'cohorts/lung.20260102T030405000006Z.provenance.json'
    """
    stem = filter_name[:-4] if filter_name.endswith(".txt") else filter_name
    return f"{stem}.{when.strftime('%Y%m%dT%H%M%S%fZ')}.provenance.json"


def export_cohort(
    lab: Lab,
    df: pd.DataFrame | FilterFile | str,
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
    """Export exactly the cohort ``df`` names to ``destination`` (see the module docstring).

    Parameters
    ----------
    lab
        The lab whose store, bucket (and warehouse, client-side) are used.
    df
        Hits with ``StudyInstanceUID`` (and ``SeriesInstanceUID``, ``SOPInstanceUID``);
        or a :class:`~dicomlab.core.filterfile.FilterFile`; or the URI of a filter
        file already uploaded to the lab's bucket (``lab.upload`` returns it),
        which is exported as it is, without another upload.
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

    Examples
    --------
    >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")   # doctest: +SKIP
    >>> done = lab.export_cohort(hits, destination="bq://p.imaging.cohort")  # doctest: +SKIP
    >>> done.provenance["filter_file"]["sha256"]                           # doctest: +SKIP
    """
    from dicomlab import __version__

    overwrite = validate_flag(overwrite, "overwrite")
    progress = validate_flag(progress, "progress")
    filter_file, uploaded, query = _cohort_filter(lab, df, level)
    if not len(filter_file):
        raise DicomlabError("the cohort names no instance: nothing to export")
    begun, clock = datetime.now(timezone.utc), time.perf_counter()
    google = _healthcare_target(lab.store)
    check_destination(destination, server_side=google is not None)  # before anything is written
    if uploaded is not None:
        object_name = uploaded[len(lab.bucket.url.rstrip("/")) + 1 :]
        if name is not None and name != object_name:
            raise UnsupportedBackendError(
                f"name={name!r} but the filter file is already uploaded as {uploaded}; "
                "leave name out to export it as it is"
            )
        name = object_name  # the provenance record goes beside it
    filter_uri = uploaded or _upload_filter(lab, filter_file, name, overwrite)
    if google is not None:
        method, details, result = _server_side(
            google, filter_uri, destination, write_disposition, mime_type, timeout, progress
        )
    else:
        method, details, result = _client_side(
            lab, filter_file, destination, write_disposition, progress
        )
    record = {
        "dicomlab_version": __version__,
        "method": method,
        "store": lab.store.url,
        "destination": destination,
        "level": filter_file.level,
        "filter_file": {
            "uri": filter_uri,
            "sha256": hashlib.sha256(filter_file.to_bytes()).hexdigest(),
            "lines": len(filter_file),
        },
        "query": query,
        "result": result,
        "started": begun.isoformat(timespec="seconds"),
        "finished": _now(),
        "seconds": round(time.perf_counter() - clock, 3),
    }
    record = redact_values(record)  # stored in the bucket and shown: no URL credential
    filter_name = filter_uri.rsplit("/", 1)[-1]
    provenance_uri = lab.bucket.upload_bytes(
        json.dumps(record, indent=2, default=str).encode(),
        _provenance_name(name or filter_name, begun),
        overwrite=overwrite,
        content_type="application/json",
    )
    operation = details if method == "healthcare-export" else None
    return CohortExport(filter_uri, provenance_uri, record, operation, details)


# ---- server side: the Healthcare API --------------------------------------------------------


def _healthcare_target(store: Store) -> tuple[Any, str] | None:
    """``(HealthcareClient, store name)`` when ``store`` is a Healthcare API DICOM store."""
    access = store.healthcare_access()
    if access is None:
        return None
    from dicomlab.google.healthcare import HealthcareClient

    return HealthcareClient(access.session, base_url=access.api_root), access.name


def _server_side(
    target: tuple[Any, str],
    filter_uri: str,
    destination: str,
    write_disposition: str,
    mime_type: str | None,
    timeout: float | None,
    progress: bool,
) -> tuple[str, Any, dict[str, Any]]:
    client, store_name = target
    if not filter_uri.startswith("gs://"):
        raise UnsupportedBackendError(
            f"a Cloud Healthcare export reads its filter file from Cloud Storage, but the lab's "
            f"bucket put it at {filter_uri!r}: connect(bucket='gs://BUCKET/PREFIX')"
        )
    if destination.startswith("bq://"):
        operation = client.export_to_bigquery(
            store_name, destination, write_disposition=write_disposition, filter_uri=filter_uri
        )
    elif destination.startswith("gs://"):
        operation = client.export_to_gcs(
            store_name, destination, mime_type=mime_type, filter_uri=filter_uri
        )
    else:
        raise UnsupportedBackendError(
            f"destination {destination!r}: a Cloud Healthcare store exports to "
            "bq://PROJECT.DATASET.TABLE or gs://BUCKET/PREFIX"
        )
    operation.wait(timeout=timeout, progress=progress)
    result = {
        "operation": operation.name,
        "counters": {"success": operation.counters.success, "failure": operation.counters.failure},
        "logs_url": operation.logs_url,
    }
    return "healthcare-export", operation, result


# ---- client side: any store -----------------------------------------------------------------


def _filter_refs(store: Store, filter_file: FilterFile) -> tuple[list[InstanceRef], list[Any]]:
    """Every instance the filter file's lines name (searched for study and series lines)."""
    import pandas as pd

    from dicomlab.stores.bulk import expand_rows

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

    def iter_json(self) -> Iterator[MetadataItem]:
        """Each instance's metadata, read one series at a time."""
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
    lab: Lab, filter_file: FilterFile, destination: str, write_disposition: str, progress: bool
) -> tuple[str, Any, dict[str, Any]]:
    refs, failures = _filter_refs(lab.store, filter_file)
    if destination.startswith("bq://") or _is_table_name(destination):
        from dicomlab.core.resources import BigQueryTable
        from dicomlab.export.pipeline import export_store_metadata

        table = BigQueryTable.parse(destination).table_id if "://" in destination else destination
        cohort: Any = _CohortStore(lab.store, refs)
        exported = export_store_metadata(
            cohort,
            lab.warehouse,
            table=table,
            write_disposition=write_disposition,
            progress=progress,
            workers=1,
        )
        counters = {"success": exported.success, "failure": exported.failure + len(failures)}
        result = {"table": f"{lab.warehouse.url}#{table}", "counters": counters}
        return "client-side-metadata", exported, result
    return _copy_instances(lab, refs, failures, destination, progress)


def _copy_instances(
    lab: Lab, refs: list[InstanceRef], failures: list[Any], destination: str, progress: bool
) -> tuple[str, Any, dict[str, Any]]:
    """Copy the instances as Part 10 files into a bucket (gs:// or a folder), never replacing."""
    from dicomlab.backends import open_bucket
    from dicomlab.stores.bulk import map_bounded

    bucket = open_bucket(destination, Path.cwd())  # a destination is given: no default used
    workers = lab.store.thumbnail_concurrency

    def one(ref: InstanceRef) -> str:
        import io

        name = f"{ref.study}/{ref.series}/{ref.instance}.dcm"
        try:
            buffer = io.BytesIO()
            lab.store.fetch_instance(ref).save_as(buffer, enforce_file_format=True)
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


# ---- filter files built in BigQuery --------------------------------------------------------


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
    """Extract the lines of ``sql`` to ``uri`` and validate the object's first lines."""
    from dicomlab.buckets.gcs import GcsBucket
    from dicomlab.core.filterfile import FilterFile
    from dicomlab.core.resources import GcsUri

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
