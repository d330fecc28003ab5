"""Flattened instances spilled to disk in chunks: the two passes of an export.

Pass 1 (:func:`flatten_items`, :func:`flatten_files`) flattens a chunk of
instances, in a worker process or in-process, and writes it as an Arrow IPC
file with the chunk's own merged columns; it hands back a small
:class:`ChunkSummary` (row count, those columns, failures). The caller merges
the chunks' columns into the table's schema, known only once every chunk is
done. Pass 2 (:func:`read_arrow_chunk`) maps each file back and fits it to that
schema column by column: a column the chunk has as the table has it is taken as
it is, a column it lacks is filled with NULLs (or empty lists), and only a
column whose type differs (a sequence with other fields, say) is rebuilt
through :func:`dicomlab.rows.schema.conform`. Memory holds a chunk or two, never the
whole store, and the Python-to-Arrow work is done where the flattening is: in
the workers.

>>> import tempfile
>>> from pydicom import Dataset
>>> from dicomlab.stores.base import MetadataItem
>>> ds = Dataset()
>>> ds.SOPInstanceUID, ds.Modality = "1.2.3", "CT"
>>> tmp = tempfile.TemporaryDirectory()
>>> spill = Path(tmp.name) / "chunk-0.arrow"
>>> summary = flatten_items([MetadataItem("a.dcm", ds), MetadataItem("b", error="bad")], spill)
>>> summary.rows, summary.failures, "Modality" in summary.columns
(1, [('b', 'bad')], True)
>>> read_arrow_chunk(summary.spill, summary.columns, summary.columns).column("Modality").to_pylist()
['CT']
>>> tmp.cleanup()
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dicomlab.errors import DicomReadError
from dicomlab.rows.arrow import arrow_schema, to_arrow_table
from dicomlab.rows.flatten import MoreBytesNeeded, flatten_dataset, flatten_json, flatten_part10
from dicomlab.rows.schema import Column, FlatRow, conform, merge_columns
from dicomlab.stores.headers import MAX_HEADER_BYTES, parse_instance_metadata
from dicomlab.stores.localfiles import WHOLE_FILE_BYTES, open_regular, read_start

if TYPE_CHECKING:
    import pyarrow as pa

    from dicomlab.stores.base import MetadataItem

__all__ = [
    "ChunkSummary",
    "Unread",
    "conform_chunk",
    "flatten_files",
    "flatten_items",
    "read_arrow_chunk",
    "read_arrow_file",
]

logger = logging.getLogger(__name__)


@dataclass
class ChunkSummary:
    """What flattening one chunk gave: where its rows are, their columns, what failed.

    ``spill`` is ``None`` when no instance of the chunk could be flattened.
    ``failures`` lists every instance without a row, ``unread`` those of them
    the store could not be read for (see :attr:`MetadataItem.transport
    <dicomlab.stores.base.MetadataItem>`). ``instances`` gives each row's
    ``(SOPInstanceUID, source, path)``, in row order (``path`` is ``""`` for
    an instance that is not a local file).
    """

    spill: str | None = None
    rows: int = 0
    columns: dict[str, Column] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    unread: list[tuple[str, str]] = field(default_factory=list)
    instances: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: int = 0
    unparsed: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)


def flatten_items(items: Iterable[MetadataItem], spill: str | Path) -> ChunkSummary:
    """Flatten read instances and write their rows to ``spill`` (an Arrow IPC file).

    A failed read (``item.error``) or a flattening error becomes a failure
    entry ``(source, reason)``; nothing raises for one bad instance.
    """
    return _write_chunk(((item.source, "", _flatten_item(item)) for item in items), spill)


def flatten_files(files: Sequence[tuple[str, str]], spill: str | Path) -> ChunkSummary:
    """Read ``(source, path)`` files and flatten them: the work of one worker process.

    Each file is flattened straight from its bytes where it can be
    (:func:`dicomlab.rows.flatten.flatten_part10`); the others are read with pydicom
    (no pixel data) with the checks of
    :func:`dicomlab.stores.headers.read_instance_metadata`, which also explain
    what is wrong with a bad file.
    """
    return _write_chunk(
        ((source, path, _flatten_file(path, source)) for source, path in files), spill
    )


class Unread(str):
    """Why an instance has no row, when the store could not be read for it."""


def _flatten_file(path: str, source: str) -> FlatRow | str:
    """The row of one file, or why there is none (an :class:`Unread` reason when it
    could not be opened or read). Only the header is read (:func:`_read_header`)."""
    try:
        data, size = read_start(path, WHOLE_FILE_BYTES)
    except DicomReadError as exc:  # a FIFO, a device, a folder: skipped, never read
        return str(exc)
    except OSError as exc:
        return Unread(f"could not be opened: {exc}")
    if size <= len(data):  # the common case: the whole file, read in one call
        try:
            row = flatten_part10(data)
        except Exception:  # the fast path must never lose a file pydicom can read
            logger.debug("fast flattening of %s failed", path, exc_info=True)
            row = None
        # Declined: pydicom reads the same bytes (the file is not read twice).
        return row or _flatten_item(parse_instance_metadata(io.BytesIO(data), source, size))
    try:
        with open_regular(path) as handle:
            handle.seek(len(data))
            row = _read_header(handle, size, data)
            if row is not None:
                return row
            handle.seek(0)
            return _flatten_item(parse_instance_metadata(handle, source, size))
    except DicomReadError as exc:  # replaced by a FIFO meanwhile
        return str(exc)
    except OSError as exc:
        return Unread(f"could not be read: {exc}")


def _read_header(handle: BinaryIO, size: int, data: bytes) -> FlatRow | None:
    """The fast path's row of a large file whose first bytes are ``data`` (``None``: declined).

    The file is read further only while its header goes on (never past
    :data:`~dicomlab.stores.headers.MAX_HEADER_BYTES`): pixel data and large
    values are passed over, so memory does not grow with the file.
    """
    while True:
        try:
            return flatten_part10(data, file_size=max(size, len(data)))
        except MoreBytesNeeded as more:
            if more.needed > MAX_HEADER_BYTES:
                return None  # pydicom reads it, within its own bounds
            wanted = min(size, max(more.needed, 2 * len(data)))
            extra = handle.read(wanted - len(data))
            if not extra:  # the file shrank while it was read: let pydicom say so
                return None
            data += extra
        except Exception:  # the fast path must never lose a file pydicom can read
            logger.debug("fast flattening failed", exc_info=True)
            return None


def _flatten_item(item: MetadataItem) -> FlatRow | str:
    """The row of one read instance, or why there is none."""
    if item.error is not None or (item.dataset is None and item.json is None):
        reason = item.error or "no metadata"
        return Unread(reason) if item.transport else reason
    try:
        if item.json is not None:
            return flatten_json(item.json)
        assert item.dataset is not None
        return flatten_dataset(item.dataset)
    except Exception as exc:  # one bad instance must not stop the export
        logger.debug("flattening %s failed", item.source, exc_info=True)
        return f"could not be flattened: {exc}"


def _write_chunk(
    results: Iterable[tuple[str, str, FlatRow | str]], spill: str | Path
) -> ChunkSummary:
    """Write a chunk's rows to ``spill`` as Arrow; a string in place of a row is a failure.

    ``results`` are ``(source, path, row or reason)``.
    """
    with _no_cycle_collection():
        return _written_chunk(results, spill)


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a chunk is flattened and written.

    A chunk's rows (up to a few million dicts and lists, none in a reference
    cycle) are kept until they are written; the collector walked them again
    and again as they grew: two thirds of the time of flattening a file with
    a rich header. Everything of a chunk is freed by reference counting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _written_chunk(
    results: Iterable[tuple[str, str, FlatRow | str]], spill: str | Path
) -> ChunkSummary:
    summary = ChunkSummary()
    sets = _ColumnSets()
    rows: list[tuple[dict[str, Any], int]] = []
    for source, path, flat in results:
        if isinstance(flat, str):
            summary.failures.append((source, str(flat)))
            if isinstance(flat, Unread):
                summary.unread.append((source, str(flat)))
            continue
        summary.instances.append((str(flat.values.get("SOPInstanceUID")), source, path))
        rows.append((flat.values, sets.index(flat.columns)))
        summary.skipped += flat.skipped
        summary.unparsed.update(flat.unparsed)
        summary.dropped.update(flat.dropped)
    if rows:
        summary.columns = merge_columns(sets.sets)
        summary.rows = len(rows)
        summary.spill = str(spill)
        table = to_arrow_table(_conform_rows(rows, sets.sets, summary.columns), summary.columns)
        _write_arrow_file(table, summary.spill)
    return summary


class _ColumnSets:
    """The distinct column sets of a chunk's rows (rows of one series share one)."""

    # Sets with the same names but other columns compared before giving up on sharing.
    MAX_CANDIDATES = 8

    def __init__(self) -> None:
        self.sets: list[dict[str, Column]] = []
        self._by_names: dict[tuple[str, ...], list[int]] = {}

    def index(self, columns: dict[str, Column]) -> int:
        """The index of ``columns`` in :attr:`sets`, added when new."""
        candidates = self._by_names.setdefault(tuple(columns), [])
        for index in candidates:
            if self.sets[index] == columns:
                return index
        self.sets.append(columns)
        if len(candidates) < self.MAX_CANDIDATES:
            candidates.append(len(self.sets) - 1)
        return len(self.sets) - 1


def _conform_rows(
    rows: Sequence[tuple[Mapping[str, Any], int]],
    sets: Sequence[Mapping[str, Column]],
    columns: Mapping[str, Column],
) -> list[Mapping[str, Any]]:
    """Rows ``(values, index of their column set)``, each conformed to ``columns``.

    A value whose column is the very column of the table is taken as it is;
    every other goes through :func:`dicomlab.rows.schema.conform` (a missing one with
    no source column). The choice is made once per distinct column set; a row
    with no other value is taken as it is, its missing columns left to
    :func:`dicomlab.rows.arrow.to_arrow_table`.
    """
    plans = [
        [(name, own.get(name), column, own.get(name) == column) for name, column in columns.items()]
        for own in sets
    ]
    # A row whose every column is as the table has it is conformed already: the columns it
    # lacks, to_arrow_table fills as conform would (null, or an empty list when REPEATED).
    ready = [all(same for _, source, _, same in plan if source is not None) for plan in plans]
    return [
        values
        if ready[index]
        else {
            name: values.get(name) if same else conform(values.get(name), source, column)
            for name, source, column, same in plans[index]
        }
        for values, index in rows
    ]


def conform_chunk(
    spill: str, own: Mapping[str, Column], columns: Mapping[str, Column]
) -> list[dict[str, Any]]:
    """The rows of a spill file (written with the columns ``own``), conformed to ``columns``."""
    rows: list[dict[str, Any]] = read_arrow_chunk(spill, own, columns).to_pylist()
    return rows


def read_arrow_chunk(
    spill: str, own: Mapping[str, Column], columns: Mapping[str, Column]
) -> pa.Table:
    """A spill file (written with the columns ``own``) with exactly the schema of ``columns``.

    Column by column: taken as written where ``own`` has the table's very column,
    NULL (an empty list when REPEATED) where the chunk lacks it, and conformed
    value by value only where the two differ.
    """
    import pyarrow as pa

    table = read_arrow_file(spill)
    schema = arrow_schema(columns)
    rows = table.num_rows
    arrays = []
    for (name, column), target in zip(columns.items(), schema, strict=True):
        source = own.get(name)
        if source == column:
            arrays.append(table.column(name))
        elif source is None:
            empty: list[Any] | None = [] if column.repeated else None
            arrays.append(pa.array([empty] * rows, target.type))
        else:
            values = table.column(name).to_pylist()
            arrays.append(pa.array([conform(v, source, column) for v in values], target.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_arrow_file(table: pa.Table, path: str) -> None:
    import pyarrow as pa

    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow_file(path: str) -> pa.Table:
    """An Arrow IPC file written by pass 1, memory-mapped."""
    import pyarrow as pa

    # The table's buffers keep the mapping alive; it is unmapped when they are freed.
    return pa.ipc.open_file(pa.memory_map(path)).read_all()
