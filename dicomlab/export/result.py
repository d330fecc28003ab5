"""What a client-side export did: :class:`ExportResult`, and the error that stops one.

The result counts rows and failures like the Healthcare operation's counter,
and makes a partial export (``allow_partial=True``) and duplicate
SOPInstanceUIDs visible in its repr and its HTML.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dicomlab.core.ledger import Duplicate
from dicomlab.errors import IncompleteReadError

if TYPE_CHECKING:
    from dicomlab.export.chunks import ChunkSummary

__all__ = ["ExportResult", "incomplete_error"]


@dataclass
class ExportResult:
    """What an export did: rows written, files that failed and why.

    ``counter`` has the shape of the Healthcare operation's counter.
    ``failures`` lists every instance without a row; ``unread`` those of them
    the store could not be read for (only with ``allow_partial=True``: the
    export is then :attr:`partial`); ``duplicates`` the files left out because
    an earlier one has their SOPInstanceUID.

    >>> r = ExportResult("t", "duckdb:///:memory:", "file:///s", "WRITE_EMPTY", success=3)
    >>> r.failures.append(("notes.txt", "not readable as DICOM"))
    >>> r.counter, r.partial
    ({'success': 3, 'failure': 1}, False)
    """

    table: str
    warehouse: str
    store: str
    write_disposition: str
    success: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    columns: int = 0
    skipped_elements: int = 0
    unparsed: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    workers: int = 1
    unread: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def failure(self) -> int:
        """How many files were not exported."""
        return len(self.failures)

    @property
    def partial(self) -> bool:
        """Whether the store could not be read for some instances (``allow_partial=True``)."""
        return bool(self.unread)

    @property
    def counter(self) -> dict[str, int]:
        """``{"success": n, "failure": m}``, like the Healthcare operation's ``counter``."""
        return {"success": self.success, "failure": self.failure}

    def _add(self, summary: ChunkSummary) -> None:
        self.failures.extend(summary.failures)
        self.skipped_elements += summary.skipped
        self.unparsed.update(summary.unparsed)
        self.dropped.update(summary.dropped)

    def __repr__(self) -> str:
        partial = f", PARTIAL: unread={len(self.unread)}" if self.partial else ""
        duplicates = f", duplicates={len(self.duplicates)}" if self.duplicates else ""
        return (
            f"ExportResult(table={self.table!r}, success={self.success}, "
            f"failure={self.failure}{partial}{duplicates}, columns={self.columns}, "
            f"seconds={self.seconds:.2f})"
        )

    def _repr_html_(self) -> str:
        partial = (
            f"<p style='color:#b00'><b>Partial export</b>: the store could not be read for "
            f"{len(self.unread)} instances; the table lacks them.</p>"
            if self.partial
            else ""
        )
        failed = _html_list(f"{self.failure} not exported", self.failures)
        duplicates = _html_list(
            f"{len(self.duplicates)} duplicate SOPInstanceUIDs left out",
            [(d.other, d.reason()) for d in self.duplicates],
        )
        return (
            f"<div>{partial}<b>Exported</b> {self.success} instances × {self.columns} columns "
            f"into <code>{html.escape(self.table)}</code> on "
            f"<code>{html.escape(self.warehouse)}</code> "
            f"({self.write_disposition}, {self.seconds:.1f} s){failed}{duplicates}</div>"
        )


def _html_list(title: str, items: list[tuple[str, str]], shown: int = 10) -> str:
    """A folded list of ``(source, reason)`` pairs (empty when there are none)."""
    if not items:
        return ""
    rows = "".join(
        f"<li><code>{html.escape(src)}</code>: {html.escape(why)}</li>"
        for src, why in items[:shown]
    )
    more = f"<li>… {len(items) - shown} more</li>" if len(items) > shown else ""
    return f"<details><summary>{html.escape(title)}</summary><ul>{rows}{more}</ul></details>"


def incomplete_error(result: ExportResult, unread: list[tuple[str, str]]) -> IncompleteReadError:
    """The error that stops an export the store could not be read for, naming what failed."""
    shown = "; ".join(f"{source}: {why}" for source, why in unread[:5])
    more = f" (and {len(unread) - 5} more)" if len(unread) > 5 else ""
    return IncompleteReadError(
        f"the store could not be read for {len(unread)} instance(s), so the export stopped "
        f"and table {result.table!r} is unchanged: {shown}{more}. Export again once the "
        "store can be read, or pass allow_partial=True to export what can be read",
        service="files" if result.store.startswith("file:") else "DICOMweb",
        resource=result.store,
        unread=unread,
    )
