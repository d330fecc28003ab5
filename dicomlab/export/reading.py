"""An export's chunks as they are read (pass 1), and as Arrow tables to load (pass 2).

Each chunk summary is admitted into the instance ledger (duplicate UIDs are
left out and reported), counted in the result and the progress bar, and its
spilled rows are read back fitted to the table's columns
(:func:`~dicomlab.export.chunks.read_arrow_chunk`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from dicomlab.core.ledger import InstanceLedger
from dicomlab.export.chunks import ChunkSummary, read_arrow_chunk
from dicomlab.export.result import ExportResult, incomplete_error
from dicomlab.rows.schema import Column, merge_columns

__all__ = ["ChunkReading", "SchemaChanged"]


class SchemaChanged(Exception):
    """A chunk's columns do not fit the columns of the chunks already loaded."""


class ChunkReading:
    """Pass 1 as it runs (chunk summaries in store order), and the Arrow tables of pass 2.

    The table's columns are known only once every chunk is read. Most stores'
    chunks share them, so :meth:`tables_as_read` loads each chunk as soon as it
    is read, fitted to the first chunk's columns, and raises
    :class:`SchemaChanged` at the first chunk that does not fit;
    :meth:`tables_fitted` then reads the rest and gives every chunk again,
    fitted to the final columns.
    """

    def __init__(
        self,
        chunks: Iterator[ChunkSummary],
        result: ExportResult,
        bar: Any,
        ledger: InstanceLedger,
        allow_partial: bool,
    ) -> None:
        self._chunks = chunks
        self._result = result
        self._bar = bar
        self._ledger = ledger
        self._allow_partial = allow_partial
        self.summaries: list[ChunkSummary] = []
        self.left_out: list[list[int]] = []  # per chunk, the rows a duplicate UID leaves out
        self.columns: dict[str, Column] = {}
        self.rows = 0

    def _read(self) -> Iterator[ChunkSummary]:
        """The chunks not read yet, counted in the result and the progress bar.

        Raises :class:`IncompleteReadError` at the first chunk with instances
        the store could not be read for, unless partial exports are allowed.
        """
        result = self._result
        for summary in self._chunks:
            if summary.unread and not self._allow_partial:
                raise incomplete_error(result, summary.unread)
            drop, duplicates = self._ledger.admit(summary.instances)
            self.columns = merge_columns([self.columns, summary.columns])
            self.summaries.append(summary)
            self.left_out.append(drop)
            result._add(summary)
            result.unread.extend(summary.unread)
            result.duplicates.extend(duplicates)
            result.failures.extend((d.other, d.reason()) for d in duplicates if not d.identical)
            self.rows += summary.rows - len(drop)
            counter = {"success": self.rows, "failure": result.failure}
            self._bar.set_postfix(ordered_dict=counter, refresh=False)
            self._bar.update(summary.rows + len(summary.failures))
            yield summary

    def _table(self, index: int, columns: dict[str, Column]) -> pa.Table:
        """Chunk ``index`` fitted to ``columns``, without the rows of duplicate UIDs."""
        summary = self.summaries[index]
        assert summary.spill is not None
        table = read_arrow_chunk(summary.spill, summary.columns, columns)
        drop = self.left_out[index]
        if not drop:
            return table
        dropped = set(drop)
        return table.filter(pa.array([row not in dropped for row in range(table.num_rows)]))

    def tables_as_read(self) -> Iterator[pa.Table]:
        """Each chunk as it is read, fitted to the first chunk's columns."""
        first: dict[str, Column] | None = None
        for summary in self._read():
            if summary.spill is None:
                continue
            first = summary.columns if first is None else first
            if merge_columns([first, summary.columns]) != first:
                raise SchemaChanged
            yield self._table(len(self.summaries) - 1, first)

    def tables_fitted(self) -> Iterator[pa.Table]:
        """Every chunk, once all are read, fitted to the table's final columns."""
        for _ in self._read():
            pass
        for index, summary in enumerate(self.summaries):
            if summary.spill is not None:
                yield self._table(index, self.columns)
