"""Review decisions in a warehouse table: appended one by one, never updated or deleted.

Every decision is one row of the history table (default ``review_decisions``,
columns :data:`dicomlab.core.decisions.COLUMNS`), written before the call that
makes it returns; values always travel as query parameters.

- **DuckDB**: a parameterised ``INSERT`` on a short-lived connection, committed
  before it returns. DuckDB lets one process at a time open a file for
  writing, so when another process (a second notebook, the CLI) holds it at
  that moment the write waits and tries again, up to ``lock_timeout`` seconds,
  then raises :class:`~dicomlab.errors.LocalFileError`: a decision is either in
  the table or reported as not made.
- **BigQuery**: streaming inserts (``tabledata.insertAll``) with the decision's
  id as ``insertId``, so a retried request is not stored twice. Streamed rows
  are readable by queries at once; a load job per decision would take seconds
  and meet the daily load-job quota per table, and DML would bill a query per
  click. The table is created once, empty, by a load job with its schema.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from dicomlab.core.decisions import COLUMNS, DEFAULT_TABLE
from dicomlab.core.resources import validate_table_name
from dicomlab.errors import LocalFileError, RemoteError, UnsupportedBackendError
from dicomlab.warehouses.bigquery_errors import translated as bigquery_translated

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from dicomlab.warehouses.base import Warehouse

__all__ = ["DecisionLog"]

_T = TypeVar("_T")
# One review's history; "dicom_metadata" stands for the decisions table (run_sql's rule).
_HISTORY_SQL = "SELECT * FROM dicom_metadata WHERE review = @review"
_DUCKDB_TYPES = {"decided_at": "TIMESTAMPTZ"}  # every other column is text


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            (name, pa.timestamp("us", tz="UTC") if name == "decided_at" else pa.string())
            for name in COLUMNS
        ]
    )


class DecisionLog:
    """The decisions table of one warehouse.

    Parameters
    ----------
    warehouse
        A DuckDB or BigQuery warehouse.
    table
        The history table's name; created on the first decision.
    lock_timeout
        DuckDB only: how long a write or read waits for another process to
        release the file, in seconds.

    Examples
    --------
    >>> from dicomlab.warehouses.duckdb import DuckDBWarehouse
    >>> log = DecisionLog(DuckDBWarehouse(":memory:"))
    >>> len(log.history("lung-qc"))
    0
    """

    def __init__(
        self, warehouse: Warehouse, table: str = DEFAULT_TABLE, *, lock_timeout: float = 30.0
    ) -> None:
        from dicomlab.warehouses.bigquery import BigQueryWarehouse
        from dicomlab.warehouses.duckdb import DuckDBWarehouse

        if not isinstance(warehouse, (DuckDBWarehouse, BigQueryWarehouse)):
            raise UnsupportedBackendError(
                f"review decisions are kept in DuckDB or BigQuery, not in {warehouse!r}: "
                "connect(warehouse='duckdb:///…' or 'bq://PROJECT.DATASET')"
            )
        self.warehouse: Any = warehouse  # one of the two, told apart by _is_duckdb
        self.table = validate_table_name(table)
        self.lock_timeout = lock_timeout
        self._table_made = False  # BigQuery: the table is known to exist

    def __repr__(self) -> str:
        return f"DecisionLog({self.warehouse.url!r}, table={self.table!r})"

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write ``rows`` (history rows, :func:`~dicomlab.core.decisions.new_decision`).

        Returns once they are stored: committed in DuckDB, accepted by BigQuery.
        """
        if not rows:
            return
        if self._is_duckdb:
            self._retrying(lambda: self._duckdb_append(rows))
        else:
            self._bigquery_append(rows)

    def history(self, review: str) -> pd.DataFrame:
        """Every decision of ``review`` (any order); no rows when there is none yet."""
        import pandas as pd

        if self._is_duckdb:
            return self._retrying(lambda: self._duckdb_history(review))
        if self.warehouse.count_rows(self.table) is None:
            empty: pd.DataFrame = pd.DataFrame(columns=list(COLUMNS))
            return empty
        found: pd.DataFrame = self.warehouse.run_sql(
            _HISTORY_SQL, {"review": review}, table=self.table
        )
        return found

    @property
    def _is_duckdb(self) -> bool:
        from dicomlab.warehouses.duckdb import DuckDBWarehouse

        return isinstance(self.warehouse, DuckDBWarehouse)

    def _retrying(self, work: Callable[[], _T]) -> _T:
        """Run ``work``; while another process holds the DuckDB file, wait and run it again."""
        deadline, pause = time.monotonic() + self.lock_timeout, 0.02
        while True:
            try:
                return work()
            except LocalFileError as exc:
                if exc.errno != errno.EAGAIN or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    # ---- DuckDB ----------------------------------------------------------------------------

    def _duckdb_create(self, con: Any) -> None:
        columns = ", ".join(f'"{c}" {_DUCKDB_TYPES.get(c, "VARCHAR")}' for c in COLUMNS)
        con.execute(f'CREATE TABLE IF NOT EXISTS "{self.table}" ({columns})')

    def _duckdb_append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        from dicomlab.warehouses.duckdb_errors import translated

        names = ", ".join(f'"{c}"' for c in COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        wh = self.warehouse
        with wh.connection() as con, translated(wh.path, "writing a decision into"):
            self._duckdb_create(con)
            con.execute("BEGIN TRANSACTION")  # several rows: all or none
            con.executemany(
                f'INSERT INTO "{self.table}" ({names}) VALUES ({marks})',
                [[row[c] for c in COLUMNS] for row in rows],
            )
            con.execute("COMMIT")

    def _duckdb_history(self, review: str) -> pd.DataFrame:
        from dicomlab.warehouses.duckdb_errors import translated
        from dicomlab.warehouses.frames import to_frame

        wh = self.warehouse
        with wh.connection() as con, translated(wh.path, "reading decisions from"):
            if not _duckdb_has_table(con, self.table):
                return to_frame(_schema().empty_table())
            names = ", ".join(f'"{c}"' for c in COLUMNS)
            sql = f'SELECT {names} FROM "{self.table}" WHERE review = $review'
            return to_frame(con.sql(sql, params={"review": review}).to_arrow_table())

    # ---- BigQuery --------------------------------------------------------------------------

    def _bigquery_append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        import pyarrow as pa

        wh: Any = self.warehouse
        if not self._table_made and wh.count_rows(self.table) is None:
            wh.load(
                self.table, pa.table(_empty(), schema=_schema()), write_disposition="WRITE_APPEND"
            )
        self._table_made = True
        table_id = wh.table_id(self.table)
        payload = [
            {c: row[c].isoformat() if c == "decided_at" else row[c] for c in COLUMNS}
            for row in rows
        ]
        with bigquery_translated(f"table {table_id}"):
            errors = wh.client.insert_rows_json(
                table_id, payload, row_ids=[row["decision_id"] for row in rows]
            )
        if errors:
            raise RemoteError(
                f"BigQuery refused decisions for table {table_id}: {errors}; they were not "
                "recorded, decide again",
                service="BigQuery",
                resource=table_id,
            )


def _duckdb_has_table(con: Any, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND lower(table_name) = lower($name)",
        {"name": table},
    ).fetchall()
    return bool(found[0][0])


def _empty() -> dict[str, list[Any]]:
    return {name: [] for name in COLUMNS}
