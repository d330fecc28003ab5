"""The embedded warehouse: a DuckDB file.

Each operation opens its own short-lived connection, so a notebook and a script
(or two notebooks) can share one warehouse file without holding its lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from dicomlab.errors import DicomlabError, QueryError
from dicomlab.resources import validate_table_name
from dicomlab.warehouses.base import not_empty_error, validate_write_disposition

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from dicomlab.queries import CannedQuery

__all__ = ["DuckDBWarehouse"]

logger = logging.getLogger(__name__)
_COLUMN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STAGED = "__dicomlab_staged"


def _quote(identifier: str) -> str:
    """Quote an identifier that has already been checked against a strict pattern."""
    if _COLUMN_RE.fullmatch(identifier) is None:
        raise DicomlabError(f"refusing unsafe SQL identifier {identifier!r}")
    return f'"{identifier}"'


class DuckDBWarehouse:
    """A DuckDB database file (or ``":memory:"``).

    Examples
    --------
    >>> wh = DuckDBWarehouse(":memory:")
    >>> wh.count_rows("dicom_metadata") is None
    True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).expanduser().resolve())
        self._memory = duckdb.connect(":memory:") if self.path == ":memory:" else None

    @property
    def url(self) -> str:
        return f"duckdb:///{self.path}" if self.path != ":memory:" else "duckdb:///:memory:"

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({self.path!r})"

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one operation (the shared one for ``:memory:``)."""
        if self._memory is not None:
            yield self._memory.cursor()
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path)
        try:
            yield con
        finally:
            con.close()

    def tables(self) -> list[str]:
        """Names of the tables in the main schema."""
        with self.connection() as con:
            rows = con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' ORDER BY table_name"
            ).fetchall()
        return [r[0] for r in rows]

    def count_rows(self, table: str) -> int | None:
        validate_table_name(table)
        if table not in self.tables():
            return None
        with self.connection() as con:
            result = con.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()
        return int(result[0]) if result else 0

    def load(self, table: str, data: pa.Table, *, write_disposition: str = "WRITE_EMPTY") -> int:
        """Load an Arrow table, all or nothing (one transaction).

        ``WRITE_EMPTY`` refuses a table that has rows; ``WRITE_TRUNCATE``
        replaces it; ``WRITE_APPEND`` adds rows, adding any new columns.
        """
        validate_table_name(table)
        validate_write_disposition(write_disposition)
        for name in data.column_names:
            _quote(name)
        existing = self.count_rows(table)
        if write_disposition == "WRITE_EMPTY" and existing:
            raise not_empty_error(table, existing)
        with self.connection() as con:
            con.register(_STAGED, data)
            try:
                con.execute("BEGIN TRANSACTION")
                if existing is None or write_disposition != "WRITE_APPEND":
                    con.execute(
                        f"CREATE OR REPLACE TABLE {_quote(table)} AS SELECT * FROM {_STAGED}"
                    )
                else:
                    self._append(con, table)
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise DicomlabError(f"loading into DuckDB table {table!r} failed: {exc}") from exc
            finally:
                con.unregister(_STAGED)
        return int(data.num_rows)

    def _append(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        have = {r[0] for r in con.execute(f"DESCRIBE {_quote(table)}").fetchall()}
        for name, kind, *_ in con.execute(f"DESCRIBE {_STAGED}").fetchall():
            if name not in have:
                con.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(name)} {kind}")
        con.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM {_STAGED}")

    def run_query(
        self, query: CannedQuery, params: Mapping[str, Any], *, table: str
    ) -> pd.DataFrame:
        """Run a canned query, translated to DuckDB, with bound parameters."""
        return self._run(query.to_duckdb(validate_table_name(table)), params, query.name)

    def run_sql(self, sql: str, params: Mapping[str, Any], *, table: str) -> pd.DataFrame:
        """Run ad-hoc BigQuery SQL, translated to DuckDB, with bound parameters."""
        from dicomlab.queries import translate

        return self._run(translate(sql, table=validate_table_name(table)), params, "SQL")

    def _run(self, sql: str, params: Mapping[str, Any], what: str) -> pd.DataFrame:
        with self.connection() as con:
            try:
                return con.execute(sql, dict(params)).df()
            except duckdb.CatalogException as exc:
                raise QueryError(
                    f"{what} failed on {self.url}: {exc}. Has the metadata been exported? "
                    "Run lab.export_metadata() first."
                ) from exc
            except duckdb.Error as exc:
                raise QueryError(f"{what} failed on {self.url}: {exc}") from exc
