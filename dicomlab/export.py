"""Client-side metadata export: read every instance of a store, flatten, load.

Produces the table shape of the Healthcare API's ``dicomStores.export`` to
BigQuery, for any store and any warehouse.
"""

from __future__ import annotations

import html
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dicomlab.schema import FlatRow, conform, flatten_dataset, merge_columns
from dicomlab.stores.base import Store
from dicomlab.warehouses.base import Warehouse, not_empty_error, validate_write_disposition

__all__ = ["ExportResult", "export_store_metadata"]

logger = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """What an export did: rows written, files that failed and why."""

    table: str
    warehouse: str
    store: str
    write_disposition: str
    success: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    columns: int = 0
    skipped_elements: int = 0
    unparsed: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def failure(self) -> int:
        """How many files were not exported."""
        return len(self.failures)

    def __repr__(self) -> str:
        return (
            f"ExportResult(table={self.table!r}, success={self.success}, "
            f"failure={self.failure}, columns={self.columns}, seconds={self.seconds:.2f})"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<li><code>{html.escape(src)}</code>: {html.escape(why)}</li>"
            for src, why in self.failures[:10]
        )
        more = f"<li>… {self.failure - 10} more</li>" if self.failure > 10 else ""
        summary = f"<summary>{self.failure} not exported</summary>"
        failed = f"<details>{summary}<ul>{rows}{more}</ul></details>"
        return (
            f"<div><b>Exported</b> {self.success} instances × {self.columns} columns into "
            f"<code>{html.escape(self.table)}</code> on <code>{html.escape(self.warehouse)}</code> "
            f"({self.write_disposition}, {self.seconds:.1f} s)"
            f"{failed if self.failures else ''}</div>"
        )


def export_store_metadata(
    store: Store,
    warehouse: Warehouse,
    *,
    table: str,
    write_disposition: str = "WRITE_EMPTY",
    progress: bool = True,
) -> ExportResult:
    """Export every instance's metadata from ``store`` into ``warehouse.table``.

    Files that cannot be read are reported in ``failures``, never fatal. The
    write disposition is checked before anything is read, so a refused export
    costs nothing.
    """
    from tqdm.auto import tqdm

    from dicomlab.arrow import to_arrow_table
    from dicomlab.resources import validate_table_name

    validate_table_name(table)
    validate_write_disposition(write_disposition)
    result = ExportResult(table, warehouse.url, store.url, write_disposition)
    started = time.perf_counter()
    existing = warehouse.count_rows(table) if write_disposition == "WRITE_EMPTY" else None
    if existing:
        raise not_empty_error(table, existing)
    rows: list[FlatRow] = []
    items = store.iter_metadata()
    for item in tqdm(
        items,
        total=store.count_instances(),
        desc="Reading metadata",
        unit="file",
        disable=not progress,
    ):
        flat = _flatten(item.source, item.dataset, item.error, result)
        if flat is not None:
            rows.append(flat)
    columns = merge_columns(row.columns for row in rows)
    values = [_conformed(row, columns) for row in rows]
    result.columns = len(columns)
    if values:
        result.success = warehouse.load(
            table, to_arrow_table(values, columns), write_disposition=write_disposition
        )
    else:
        logger.warning("no instance could be exported from %s", store.url)
    result.seconds = time.perf_counter() - started
    return result


def _flatten(source: str, dataset: Any, error: str | None, result: ExportResult) -> FlatRow | None:
    if error is not None or dataset is None:
        result.failures.append((source, error or "no metadata"))
        return None
    try:
        flat = flatten_dataset(dataset)
    except Exception as exc:  # one bad file must not stop the export
        logger.debug("flattening %s failed", source, exc_info=True)
        result.failures.append((source, f"could not be flattened: {exc}"))
        return None
    result.skipped_elements += flat.skipped
    result.unparsed.update(flat.unparsed)
    return flat


def _conformed(row: FlatRow, columns: dict[str, Any]) -> dict[str, Any]:
    return {
        name: conform(row.values.get(name), row.columns.get(name), column)
        for name, column in columns.items()
    }
