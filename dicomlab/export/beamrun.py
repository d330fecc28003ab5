"""Running the Beam export (:mod:`dicomlab.export.beam`) and loading what it wrote.

:func:`export_with_beam` lists the store's files here, builds the pipeline,
runs it (``DirectRunner`` by default, ``DataflowRunner`` with its options),
and then, for a warehouse other than BigQuery, loads the Parquet parts with
:meth:`~dicomlab.warehouses.base.Warehouse.load_chunks`: the table changes
only once every part is in, and not at all when an instance could not be read
(unless ``allow_partial``). A ``bq://`` warehouse is written by Beam's own
BigQuery sink; a file that cannot be read then fails the pipeline before any
load job runs.

Apache Beam is an optional dependency: ``pip install 'dicomlab[beam]'``.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dicomlab.errors import DicomlabError, InvalidRequestError, UnsupportedBackendError
from dicomlab.export.result import ExportResult, incomplete_error
from dicomlab.stores.base import FileStore, Store
from dicomlab.stores.gcsfiles import GcsFileStore
from dicomlab.warehouses.base import Warehouse, not_empty_error, validate_write_disposition
from dicomlab.warehouses.bigquery import BigQueryWarehouse

if TYPE_CHECKING:
    import pyarrow as pa

    from dicomlab.export.beam import BeamPlan

__all__ = ["check_engine", "export_with_beam", "list_files", "pipeline_options"]


def check_engine(engine: object, streaming_columns: bool) -> str:
    """``engine`` if it is an export engine (``"local"`` or ``"beam"``) usable as asked, else raise.

    >>> check_engine("beam", streaming_columns=False)
    'beam'
    """
    if engine not in ("local", "beam"):
        raise InvalidRequestError(
            f"engine={engine!r} is not an export engine; use 'local' or 'beam'", value=engine
        )
    if engine == "beam" and streaming_columns:
        raise InvalidRequestError(
            "streaming_columns=True is the local engine's; export with engine='local'",
            value=streaming_columns,
        )
    return str(engine)


def list_files(store: Store) -> list[tuple[int, str, str, int]]:
    """``(index, source, path, size)`` of every candidate file, in store order.

    A folder store gives local paths (size ``-1``: read as the export's workers
    do); a ``gs://`` store gives object URIs and sizes from its listing.
    """
    if isinstance(store, GcsFileStore):
        bucket = store.uri.bucket
        return [
            (i, f"gs://{bucket}/{o.name}", f"gs://{bucket}/{o.name}", o.size)
            for i, o in enumerate(store.objects())
        ]
    if isinstance(store, FileStore):
        return [(i, source, path, -1) for i, (source, path) in enumerate(store.iter_paths())]
    raise UnsupportedBackendError(
        f"engine='beam' reads files: a folder or a gs:// store, not {store.url}; "
        "use the local export (engine='local') for DICOMweb stores"
    )


def pipeline_options(runner: str | None, options: Sequence[str] | str | None) -> Any:
    """Beam ``PipelineOptions`` from a runner name and command-line style options.

    >>> pipeline_options("DirectRunner", "--direct_num_workers=2").get_all_options()["runner"]
    'DirectRunner'
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    flags = shlex.split(options) if isinstance(options, str) else list(options or [])
    if runner:
        flags = [f"--runner={runner}", *flags]
    return PipelineOptions(flags)


def export_with_beam(
    store: Store,
    warehouse: Warehouse,
    *,
    table: str,
    write_disposition: str = "WRITE_EMPTY",
    runner: str | None = None,
    options: Sequence[str] | str | None = None,
    allow_partial: bool = False,
) -> ExportResult:
    """Export every instance's metadata with an Apache Beam pipeline.

    Gives the table the local export gives (the same rows, column for column).
    ``runner``: ``"DirectRunner"`` (default) or ``"DataflowRunner"``;
    ``options``: further Beam options (``["--project=P", "--region=R",
    "--temp_location=gs://B/tmp"]``). On Dataflow, ``--temp_location`` also
    holds the Parquet parts and the failures.

    >>> from dicomlab.stores.folder import FolderStore              # doctest: +SKIP
    >>> export_with_beam(FolderStore("store"), lab.warehouse, table="t",
    ...                  runner="DataflowRunner", options=["--project=p"])  # doctest: +SKIP
    """
    from dicomlab.core.resources import validate_table_name
    from dicomlab.redaction import redact_url

    validate_table_name(table)
    validate_write_disposition(write_disposition)
    beam_options = _beam_options(runner, options)
    result = ExportResult(
        table, redact_url(warehouse.url), redact_url(store.url), write_disposition
    )
    started = time.perf_counter()
    if write_disposition == "WRITE_EMPTY":
        existing = warehouse.count_rows(table)
        if existing:
            raise not_empty_error(table, existing)
    files = list_files(store)
    with tempfile.TemporaryDirectory(prefix="dicomlab-beam-") as local:
        output = _output(beam_options) or local
        plan = _plan(store, warehouse, table, write_disposition, files, output, allow_partial)
        rows = _run(plan, beam_options)
        _read_failures(plan.output, result)
        if result.unread and not allow_partial and plan.bigquery_table is None:
            raise incomplete_error(result, result.unread)
        result.success = rows
        if plan.bigquery_table is None:
            loaded = warehouse.load_chunks(
                table, _parts(plan.output), write_disposition=write_disposition
            )
            if loaded != rows:  # a part lost or read twice: never report it as done
                raise DicomlabError(
                    f"the Beam export wrote {rows} rows but {loaded} were loaded into "
                    f"{table!r}; run it again with write_disposition='WRITE_TRUNCATE'"
                )
    result.seconds = time.perf_counter() - started
    return result


def _beam_options(runner: str | None, options: Sequence[str] | str | None) -> Any:
    try:
        return pipeline_options(runner, options)
    except ImportError as exc:
        raise UnsupportedBackendError(
            "engine='beam' needs Apache Beam: pip install 'dicomlab[beam]'"
        ) from exc
    except SystemExit as exc:  # argparse's way of refusing an option
        raise InvalidRequestError(
            f"pipeline options {options!r} are not Beam options; see `python -m "
            "apache_beam.runners.dataflow.dataflow_runner --help`",
            value=options,
        ) from exc


def _output(beam_options: Any) -> str | None:
    """Where a remote runner writes: under ``--temp_location`` (workers cannot see this disk)."""
    temp = beam_options.get_all_options().get("temp_location")
    return f"{temp.rstrip('/')}/dicomlab-{time.strftime('%Y%m%d-%H%M%S')}" if temp else None


def _plan(
    store: Store,
    warehouse: Warehouse,
    table: str,
    write_disposition: str,
    files: list[tuple[int, str, str, int]],
    output: str,
    allow_partial: bool,
) -> BeamPlan:
    from dicomlab.export.beam import BeamPlan

    bigquery = None
    if isinstance(warehouse, BigQueryWarehouse):
        dataset = warehouse.dataset
        bigquery = f"{dataset.project_id}:{dataset.dataset_id}.{table}"
    return BeamPlan(
        files=files,
        output=output,
        bigquery_table=bigquery,
        write_disposition=write_disposition,
        anonymous=isinstance(store, GcsFileStore) and store.anonymous,
        fail_on_unread=bigquery is not None and not allow_partial,
        extra={"gcs_temp_location": None},
    )


def _run(plan: BeamPlan, beam_options: Any) -> int:
    """Run the pipeline to its end; the number of rows it handed to the sink."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    from dicomlab.export.beam import build_pipeline

    pipeline = beam.Pipeline(options=beam_options)
    build_pipeline(pipeline, plan)
    outcome = pipeline.run()
    outcome.wait_until_finish()
    found = outcome.metrics().query(MetricsFilter().with_namespace("dicomlab").with_name("rows"))
    return sum(int(c.committed or 0) for c in found["counters"])


def _read_failures(output: str, result: ExportResult) -> None:
    from apache_beam.io.filesystems import FileSystems

    matches = FileSystems.match([f"{output.rstrip('/')}/failures*"])[0].metadata_list
    for match in sorted(matches, key=lambda m: m.path):
        with FileSystems.open(match.path) as handle:
            for line in handle.read().decode().splitlines():
                source, reason, unread = json.loads(line)
                result.failures.append((source, reason))
                if unread:
                    result.unread.append((source, reason))
    result.failures.sort()
    result.unread.sort()


def _parts(output: str) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    matches = FileSystems.match([f"{output.rstrip('/')}/rows/part-*.parquet"])[0].metadata_list
    for match in sorted(matches, key=lambda m: m.path):
        with FileSystems.open(match.path) as handle:
            yield pq.read_table(handle)
