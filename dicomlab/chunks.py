"""Flattened instances spilled to disk in chunks: the two passes of an export.

Pass 1 (:func:`flatten_items`, :func:`flatten_files`) flattens a chunk of
instances, in a worker process or in-process, pickles the rows to a spill file
and hands back a small :class:`ChunkSummary` (row count, the chunk's merged
columns, failures). The caller merges the chunks' columns into the table's
schema, known only once every chunk is done. Pass 2 reads each spill file back,
conforms its rows to that schema and builds an Arrow table
(:func:`read_arrow_chunk`; :func:`write_arrow_file` does the same in a worker and
hands the table over as an Arrow IPC file). Memory holds a chunk or two, never
the whole store.

A spill file holds the chunk's distinct column sets once (the rows of a series
share one) and, per row, its pickled values and the index of its column set:
pickling the columns of every row would cost more than reading the file, and
holding rows as bytes keeps the garbage collector's work flat.

>>> import tempfile
>>> from pydicom import Dataset
>>> from dicomlab.stores.base import MetadataItem
>>> ds = Dataset()
>>> ds.SOPInstanceUID, ds.Modality = "1.2.3", "CT"
>>> tmp = tempfile.TemporaryDirectory()
>>> spill = Path(tmp.name) / "chunk-0.pickle"
>>> summary = flatten_items([MetadataItem("a.dcm", ds), MetadataItem("b", error="bad")], spill)
>>> summary.rows, summary.failures, "Modality" in summary.columns
(1, [('b', 'bad')], True)
>>> read_arrow_chunk(summary.spill, summary.columns).column("Modality").to_pylist()
['CT']
>>> tmp.cleanup()
"""

from __future__ import annotations

import logging
import pickle
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomlab.schema import Column, conform, merge_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from dicomlab.stores.base import MetadataItem

__all__ = [
    "ChunkSummary",
    "conform_chunk",
    "flatten_files",
    "flatten_items",
    "read_arrow_chunk",
    "read_arrow_file",
    "write_arrow_file",
]

logger = logging.getLogger(__name__)
_PROTOCOL = pickle.HIGHEST_PROTOCOL


@dataclass
class ChunkSummary:
    """What flattening one chunk gave: where its rows are, their columns, what failed.

    ``spill`` is ``None`` when no instance of the chunk could be flattened.
    """

    spill: str | None = None
    rows: int = 0
    columns: dict[str, Column] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0
    unparsed: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)


def flatten_items(items: Iterable[MetadataItem], spill: str | Path) -> ChunkSummary:
    """Flatten read instances and pickle their rows to ``spill``.

    A failed read (``item.error``) or a flattening error becomes a failure
    entry ``(source, reason)``; nothing raises for one bad instance.
    """
    from dicomlab.flatten import flatten_dataset, flatten_json

    summary = ChunkSummary()
    sets = _ColumnSets()
    rows: list[tuple[bytes, int]] = []
    for item in items:
        if item.error is not None or (item.dataset is None and item.json is None):
            summary.failures.append((item.source, item.error or "no metadata"))
            continue
        try:
            if item.json is not None:
                flat = flatten_json(item.json)
            else:
                assert item.dataset is not None
                flat = flatten_dataset(item.dataset)
        except Exception as exc:  # one bad instance must not stop the export
            logger.debug("flattening %s failed", item.source, exc_info=True)
            summary.failures.append((item.source, f"could not be flattened: {exc}"))
            continue
        # Pickled at once: bytes are cheap to hold, and the garbage collector skips them.
        rows.append((pickle.dumps(flat.values, _PROTOCOL), sets.index(flat.columns)))
        summary.skipped += flat.skipped
        summary.unparsed.update(flat.unparsed)
        summary.dropped.update(getattr(flat, "dropped", ()))
    if rows:
        summary.columns = merge_columns(sets.sets)
        summary.rows = len(rows)
        summary.spill = str(spill)
        with open(spill, "wb") as handle:
            pickle.dump((sets.sets, rows), handle, _PROTOCOL)
    return summary


def flatten_files(files: Sequence[tuple[str, str]], spill: str | Path) -> ChunkSummary:
    """Read ``(source, path)`` files and flatten them: the work of one worker process.

    Files are read one at a time (no pixel data) with the checks of
    :func:`dicomlab.stores.folder.read_instance_metadata`.
    """
    from dicomlab.stores.folder import read_instance_metadata

    return flatten_items((read_instance_metadata(path, source) for source, path in files), spill)


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


def conform_chunk(spill: str, columns: Mapping[str, Column]) -> list[dict[str, Any]]:
    """The rows of a spill file, each conformed to ``columns`` (the table's schema).

    A value whose column is the very column of the table is taken as it is;
    every other goes through :func:`dicomlab.schema.conform` (a missing one with
    no source column). The choice is made once per distinct column set.
    """
    with open(spill, "rb") as handle:
        sets, rows = pickle.load(handle)
    plans = [
        [(name, own.get(name), column, own.get(name) == column) for name, column in columns.items()]
        for own in sets
    ]
    out = []
    for data, index in rows:
        values = pickle.loads(data)
        out.append(
            {
                name: values.get(name) if same else conform(values.get(name), source, column)
                for name, source, column, same in plans[index]
            }
        )
    return out


def read_arrow_chunk(spill: str, columns: Mapping[str, Column]) -> pa.Table:
    """A spill file as an Arrow table with exactly the schema of ``columns``."""
    from dicomlab.arrow import to_arrow_table

    return to_arrow_table(conform_chunk(spill, columns), columns)


def write_arrow_file(spill: str, columns: Mapping[str, Column], path: str) -> str:
    """:func:`read_arrow_chunk` in a worker: write the table as an Arrow IPC file at ``path``."""
    import pyarrow as pa

    table = read_arrow_chunk(spill, columns)
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def read_arrow_file(path: str) -> pa.Table:
    """An Arrow IPC file written by :func:`write_arrow_file`, memory-mapped."""
    import pyarrow as pa

    # The table's buffers keep the mapping alive; it is unmapped when they are freed.
    return pa.ipc.open_file(pa.memory_map(path)).read_all()
