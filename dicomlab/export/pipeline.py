"""Client-side metadata export: read every instance of a store, flatten, load.

Produces the table shape of the Healthcare API's ``dicomStores.export`` to
BigQuery, for any store and any warehouse, in bounded memory:

1. instances are read and flattened in chunks, in worker processes when the
   store hands out file paths (:class:`~dicomlab.stores.base.FileStore`), else
   in this process through ``store.iter_json()`` (DICOM JSON, for a
   :class:`~dicomlab.stores.base.JsonSource`) or ``store.iter_metadata()``;
   files in Explicit VR Little Endian are flattened straight from their bytes
   (:func:`~dicomlab.rows.flatten.flatten_part10`). Each chunk's rows are spilled
   to a temporary Arrow file and only its columns are kept;
2. once every chunk is done the table's schema is known: the chunks are mapped
   back one at a time, fitted to it, and streamed as Arrow tables into
   :meth:`~dicomlab.warehouses.base.Warehouse.load_chunks`, which replaces or
   extends the target table only when the last chunk is in.

What cannot be exported is told apart by its cause:

- *content*: an item that is not a valid instance (a file that opens but is
  not DICOM, a DICOMDIR, malformed metadata, a FIFO or device in a folder) is
  listed in :attr:`ExportResult.failures` with the reason; the export goes on;
- *transport*: the store could not be read for an item (a connection or
  timeout, a server error after retries, a file that cannot be opened): the
  export stops with :class:`~dicomlab.errors.IncompleteReadError` naming what
  could not be read, and the table stays exactly as it was, whatever the
  write disposition. ``allow_partial=True`` exports what could be read
  instead; the result is then marked partial (:attr:`ExportResult.partial`);
- *duplicates*: a later file with a SOPInstanceUID already taken is left out
  (one row per instance), and reported with both files in
  :attr:`ExportResult.duplicates`; unless the two files have the same bytes
  it is also a failure (:mod:`dicomlab.core.ledger`).

The spilled rows take a few kilobytes per instance in the
temporary folder (``$TMPDIR``), removed when the export ends.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain, count, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dicomlab.core.ledger import InstanceLedger
from dicomlab.core.resources import validate_table_name
from dicomlab.core.validation import validate_count, validate_flag
from dicomlab.errors import DicomlabError
from dicomlab.export.chunks import (
    ChunkSummary,
    flatten_files,
    flatten_items,
)
from dicomlab.export.reading import ChunkReading, SchemaChanged
from dicomlab.export.result import ExportResult
from dicomlab.export.workers import shared_map, worker_pool
from dicomlab.redaction import redact_url
from dicomlab.rows.arrow import arrow_field
from dicomlab.rows.schema import STREAMING_COLUMNS
from dicomlab.stores.base import FileStore, JsonSource, MetadataSource, Store
from dicomlab.warehouses.base import Warehouse, not_empty_error, validate_write_disposition

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ExportResult", "default_workers", "export_store_metadata"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
# Chunks per worker at least: the smaller the last ones, the less a core idles at the end.
TASKS_PER_WORKER = 8


def default_workers() -> int:
    """The CPUs this process may run on (``os.cpu_count()`` where affinity is unknown).

    >>> default_workers() >= 1
    True
    """
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return os.cpu_count() or 1


def _check_sizes(workers: int | None, chunk_size: int) -> int:
    """The worker count to use, after checking both sizes."""
    validate_count(chunk_size, "chunk_size", hint="a number of instances; the default is 2000")
    if workers is None:
        return default_workers()
    return validate_count(
        workers,
        "workers",
        hint="pass 1 to read in this process, or None for one worker per CPU",
    )


def export_store_metadata(
    store: MetadataSource,
    warehouse: Warehouse,
    *,
    table: str,
    write_disposition: str = "WRITE_EMPTY",
    progress: bool = True,
    workers: int | None = None,
    chunk_size: int = 2000,
    streaming_columns: bool = False,
    allow_partial: bool = False,
) -> ExportResult:
    """Export every instance's metadata from ``store`` into ``warehouse.table``.

    Parameters
    ----------
    store, warehouse
        Where the instances are and where the table goes.
    table
        The table name (letters, digits, underscores).
    write_disposition
        ``"WRITE_EMPTY"`` refuses a table that has rows (checked before anything
        is read); ``"WRITE_TRUNCATE"`` replaces it; ``"WRITE_APPEND"`` adds to it.
        The table changes only once every instance is read: a failed export
        leaves it as it was.
    progress
        Show a ``tqdm`` bar over instances with success and failure counts.
    workers
        Processes that read and flatten files: ``None`` for one per CPU (this
        process loads the warehouse meanwhile), ``1`` to do everything in this
        process. Worker processes are kept for the next export and stop once
        idle for a while (:mod:`dicomlab.export.workers`). Stores without local files
        (DICOMweb) are always read in this process.
    chunk_size
        Instances per chunk: bounds the memory of each worker and of each load.
    streaming_columns
        Add the ``Type`` and ``LastUpdated`` columns of the tables the Healthcare
        API streams into, so queries written for those tables (``current_state``)
        run here. Every row gets ``Type = 'CREATE'`` (Google does not document the
        values; this is an assumption) and ``LastUpdated`` = the export's start.
    allow_partial
        What to do when the store cannot be read for some instances (a
        connection, a timeout, a server error after retries, a file that cannot
        be opened). ``False``: stop with
        :class:`~dicomlab.errors.IncompleteReadError` at the first chunk that
        has such an instance, naming them, and leave the table as it was.
        ``True``: export the rest, list them in ``result.unread`` and mark the
        result ``partial``. Instances that are not valid DICOM never stop the
        export: they are listed in ``result.failures``.

    Raises
    ------
    IncompleteReadError
        The store could not be read for some instances (``allow_partial=False``).

    Examples
    --------
    >>> from dicomlab.warehouses.duckdb import DuckDBWarehouse
    >>> result = export_store_metadata(lab.store, DuckDBWarehouse("lab.duckdb"),
    ...                                table="dicom_metadata", progress=False)
    >>> result.counter
    {'success': 81, 'failure': 0}
    """
    validate_table_name(table)
    validate_write_disposition(write_disposition)
    progress = validate_flag(progress, "progress")
    streaming_columns = validate_flag(streaming_columns, "streaming_columns")
    workers = _check_sizes(workers, chunk_size)
    allow_partial = validate_flag(allow_partial, "allow_partial")
    result = ExportResult(
        table, redact_url(warehouse.url), redact_url(store.url), write_disposition
    )
    started = time.perf_counter()
    # The worker processes start first, and warm up while the table and the store are counted.
    with _pool(store, workers) as pool:
        existing = warehouse.count_rows(table) if write_disposition == "WRITE_EMPTY" else None
        if existing:
            raise not_empty_error(table, existing)
        total = _instance_count(store)
        plan = _plan(workers if pool is not None else 1, chunk_size, total.now or 0)
        result.workers = plan.workers
        options = _Options(progress, streaming_columns, allow_partial)
        _run(store, warehouse, plan, pool, result, total, options)
    if not result.success:
        logger.warning("no instance could be exported from %s", result.store)
    result.seconds = time.perf_counter() - started
    return result


def _run(
    store: MetadataSource,
    warehouse: Warehouse,
    plan: _Plan,
    pool: ProcessPoolExecutor | None,
    result: ExportResult,
    total: _Count,
    options: _Options,
) -> None:
    """Both passes: read every instance (counted in ``result``), and load the table."""
    table, write_disposition = result.table, result.write_disposition
    stamp = datetime.now(timezone.utc) if options.streaming_columns else None
    with (
        tempfile.TemporaryDirectory(prefix="dicomlab-export-") as tmp,
        _progress(total.now, options.progress) as bar,
        contextlib.closing(InstanceLedger(Path(tmp) / "instances.sqlite")) as ledger,
    ):
        total.show_on(bar)
        chunks = _flatten_chunks(store, plan, pool, Path(tmp), total.told)
        reading = ChunkReading(chunks, result, bar, ledger, options.allow_partial)
        try:
            # Chunks that fit the first chunk's columns load while the store is read. The
            # first is read before the warehouse is opened: opening it then holds no reading up.
            tables = _first_read(reading.tables_as_read())
            result.success = _load(warehouse, table, write_disposition, tables, stamp)
        except SchemaChanged:
            # A later chunk changed the columns: load every chunk again, fitted to the final ones.
            tables = reading.tables_fitted()
            result.success = _load(warehouse, table, write_disposition, tables, stamp)
        result.columns = len(reading.columns) + (len(STREAMING_COLUMNS) if stamp else 0)


@dataclass(frozen=True)
class _Options:
    """The caller's choices that shape the read and the load."""

    progress: bool
    streaming_columns: bool
    allow_partial: bool


@dataclass(frozen=True)
class _Plan:
    """How an export runs: ``workers`` processes (1: none) and instances per chunk."""

    workers: int
    chunk_size: int


def _plan(workers: int, chunk_size: int, total: int) -> _Plan:
    if workers < 2 or total < 2:
        return _Plan(1, chunk_size)
    # Many chunks per worker, so that every core stays busy to the end.
    per_task = min(chunk_size, max(1, math.ceil(total / (workers * TASKS_PER_WORKER))))
    return _Plan(min(workers, math.ceil(total / per_task)), per_task)


@contextlib.contextmanager
def _pool(store: MetadataSource, workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """The worker processes that read files (kept for the next export), or ``None``."""
    if workers < 2 or not isinstance(store, FileStore):
        yield None
        return
    with worker_pool(workers, _warm_up) as pool:
        yield pool


def _warm_up() -> None:
    """Prepare a worker process as it starts: import what it needs, and Arrow without pandas.

    pyarrow imports pandas at its first conversion only to tell pandas objects
    from others. A worker never hands it one, and pandas would cost each worker
    about 0.15 s of CPU and 40 MiB.
    """
    import importlib

    for name in ("dicomlab.export.chunks", "dicomlab.rows.flatten", "dicomlab.rows.arrow"):
        importlib.import_module(name)
    with _hidden("pandas"):
        import pyarrow as pa

        pa.array([0])


@contextlib.contextmanager
def _hidden(package: str) -> Iterator[None]:
    """Within the block, ``package`` cannot be imported (unless it already is)."""
    import importlib.abc

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
            if name == package or name.startswith(package + "."):
                raise ModuleNotFoundError(f"{name} is hidden from this worker", name=name)

    finder = Hide()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


@dataclass
class _Count:
    """The store's instance count: known ``now``, or told by its reading once it has listed."""

    now: int | None
    bar: Any = None

    def show_on(self, bar: Any) -> None:
        self.bar = bar

    def told(self, total: int) -> None:
        """What the reading announces (a server's series listing): the bar's total."""
        if self.bar is not None:
            self.bar.total = total


def _instance_count(store: MetadataSource) -> _Count:
    """How many instances ``store`` holds, for the workers' tasks and the progress bar.

    A file store is counted at once (the count sizes the workers' tasks), and
    so is any source that is not a store. Another store that hands over DICOM
    JSON tells the count through ``iter_json(counted=...)``: a DICOMweb server
    as it lists its series (no search of its own), a bucket of files from its
    object listing. The bar ends at what was read if the store cannot tell.
    """
    server = isinstance(store, Store) and not isinstance(store, FileStore)
    if server and isinstance(store, JsonSource):
        return _Count(None)
    return _Count(store.count_instances())


@contextlib.contextmanager
def _progress(total: int | None, progress: bool) -> Iterator[Any]:
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="Exporting metadata", unit="file", disable=not progress) as bar:
        yield bar
        if bar.total is None:  # a server's count not in yet (or failed): all was read
            bar.total = bar.n


def _first_read(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """``tables``, the first of them read already."""
    first = next(tables, None)
    return iter(()) if first is None else chain([first], tables)


def _load(
    warehouse: Warehouse,
    table: str,
    write_disposition: str,
    tables: Iterator[pa.Table],
    stamp: datetime | None,
) -> int:
    if stamp is not None:
        tables = _with_streaming_columns(tables, stamp)
    return warehouse.load_chunks(table, tables, write_disposition=write_disposition)


def _flatten_chunks(
    store: MetadataSource,
    plan: _Plan,
    pool: ProcessPoolExecutor | None,
    tmp: Path,
    counted: Callable[[int], None],
) -> Iterator[ChunkSummary]:
    """The chunk summaries of pass 1, in store order (``counted``: see ``JsonSource``)."""
    if isinstance(store, FileStore):
        tasks = (
            (batch, tmp / f"chunk-{index:07d}.arrow")
            for index, batch in enumerate(_batched(store.iter_paths(), plan.chunk_size))
        )
        if pool is None:
            yield from (flatten_files(*task) for task in tasks)
            return
        try:
            yield from shared_map(pool, flatten_files, tasks, plan.workers)
        except BrokenProcessPool as exc:
            raise DicomlabError(
                "a worker process of the export died (out of memory, or killed); the table "
                "is as it was: run the export again, or pass workers=1 to read in this process"
            ) from exc
        return
    # Read lazily, one instance at a time: a chunk holds flattened rows, never datasets.
    # Stores that receive DICOM JSON (DICOMweb) hand it over as is: no Dataset round trip.
    if isinstance(store, JsonSource):
        items = iter(store.iter_json(counted=counted))
    else:
        items = iter(store.iter_metadata())
    for index in count():
        summary = flatten_items(islice(items, plan.chunk_size), tmp / f"chunk-{index:07d}.arrow")
        if not summary.rows and not summary.failures:
            return
        yield summary


def _with_streaming_columns(tables: Iterator[pa.Table], when: datetime) -> Iterator[pa.Table]:
    """Each table with ``Type`` and ``LastUpdated`` appended (as a streamed table has)."""
    import pyarrow as pa

    type_field, updated_field = (arrow_field(c) for c in STREAMING_COLUMNS)
    for table in tables:
        rows = table.num_rows
        table = table.append_column(type_field, pa.array(["CREATE"] * rows, type_field.type))
        yield table.append_column(updated_field, pa.array([when] * rows, updated_field.type))


def _batched(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
