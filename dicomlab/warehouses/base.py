"""The warehouse protocol (DuckDB embedded, BigQuery in the cloud)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dicomlab.core.validation import WRITE_DISPOSITIONS, validate_write_disposition
from dicomlab.errors import AlreadyExistsError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from dicomlab.core.queries import CannedQuery

__all__ = ["WRITE_DISPOSITIONS", "Warehouse", "not_empty_error", "validate_write_disposition"]


def not_empty_error(table: str, rows: int) -> AlreadyExistsError:
    """The error for a ``WRITE_EMPTY`` load into a table that has rows."""
    return AlreadyExistsError(
        f"table {table!r} already holds {rows} rows; pass write_disposition='WRITE_TRUNCATE' "
        "to replace it or 'WRITE_APPEND' to add to it"
    )


@runtime_checkable
class Warehouse(Protocol):
    """What dicomlab needs of a SQL warehouse."""

    @property
    def url(self) -> str:
        """Where the warehouse is (``duckdb:///…``, ``bq://…``)."""
        ...

    def load(self, table: str, data: pa.Table, *, write_disposition: str) -> int:
        """Load rows into ``table`` honouring the write disposition; return the row count."""
        ...

    def load_chunks(self, table: str, chunks: Iterable[pa.Table], *, write_disposition: str) -> int:
        """Load Arrow tables one after the other; return the row count.

        ``table`` changes only once the last chunk is in, in one step that
        applies the write disposition; on any failure (a chunk that cannot be
        read or loaded included) it is left exactly as it was.
        """
        ...

    def count_rows(self, table: str) -> int | None:
        """Rows in ``table``, or ``None`` when it does not exist.

        Names match by the warehouse's own rule: DuckDB ignores case; BigQuery
        does not, unless the dataset was created case-insensitive.
        """
        ...

    def run_query(
        self,
        query: CannedQuery,
        params: Mapping[str, Any],
        *,
        table: str,
        source: str | None = None,
    ) -> pd.DataFrame:
        """Run a canned query against ``table`` (or the rows of canned query ``source``)."""
        ...

    def run_sql(self, sql: str, params: Mapping[str, Any], *, table: str) -> pd.DataFrame:
        """Run ad-hoc BigQuery SQL (``dicom_metadata`` names ``table``)."""
        ...
