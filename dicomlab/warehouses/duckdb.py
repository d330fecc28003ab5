"""The embedded warehouse: a DuckDB file.

Each operation opens its own short-lived connection, so a notebook and a script
(or two notebooks) can share one warehouse file without holding its lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import reprlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from dicomlab.errors import DicomlabError, QueryError
from dicomlab.resources import validate_table_name
from dicomlab.warehouses.base import not_empty_error, validate_write_disposition
from dicomlab.warehouses.frames import to_frame

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from dicomlab.queries import CannedQuery

__all__ = ["DuckDBWarehouse"]

logger = logging.getLogger(__name__)
_COLUMN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CHUNK = "__dicomlab_chunk"
# Staging tables are hidden from tables(); one left by a killed process is harmless.
_STAGING_PREFIX = "__dicomlab_staging_"


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
        return [r[0] for r in rows if not r[0].startswith(_STAGING_PREFIX)]

    def count_rows(self, table: str) -> int | None:
        validate_table_name(table)
        if table not in self.tables():
            return None
        with self.connection() as con:
            result = con.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()
        return int(result[0]) if result else 0

    def load(self, table: str, data: pa.Table, *, write_disposition: str = "WRITE_EMPTY") -> int:
        """Load one Arrow table, all or nothing: :meth:`load_chunks` with a single chunk.

        ``WRITE_EMPTY`` refuses a table that has rows; ``WRITE_TRUNCATE``
        replaces it; ``WRITE_APPEND`` adds rows, adding any new columns.

        >>> import pyarrow as pa
        >>> wh = DuckDBWarehouse(":memory:")
        >>> wh.load("t", pa.table({"A": ["x", "y"]}))
        2
        """
        return self.load_chunks(table, [data], write_disposition=write_disposition)

    def load_chunks(
        self, table: str, chunks: Iterable[pa.Table], *, write_disposition: str = "WRITE_EMPTY"
    ) -> int:
        """Load Arrow tables one after the other; ``table`` changes only once all are in.

        The chunks go into a staging table; then one transaction applies the
        write disposition to ``table``: ``WRITE_EMPTY`` (refused before any chunk
        is read when ``table`` has rows) and ``WRITE_TRUNCATE`` put the staged
        rows in its place, ``WRITE_APPEND`` adds any new columns and inserts the
        rows by column name. If anything fails, chunks included, ``table`` is
        left exactly as it was and the staging table is dropped. No chunk at all
        leaves ``table`` untouched. Returns the number of rows loaded.

        >>> import pyarrow as pa
        >>> wh = DuckDBWarehouse(":memory:")
        >>> wh.load_chunks("t", [pa.table({"A": [1]}), pa.table({"A": [2, 3]})])
        3
        >>> wh.load_chunks("t", [pa.table({"B": ["new"]})], write_disposition="WRITE_APPEND")
        1
        >>> wh.count_rows("t")
        4
        """
        validate_table_name(table)
        validate_write_disposition(write_disposition)
        existing = self.count_rows(table)
        if write_disposition == "WRITE_EMPTY" and existing:
            raise not_empty_error(table, existing)
        staging = f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        with self.connection() as con:
            try:
                rows = _stage(con, staging, chunks)
                if rows is not None:
                    _publish(con, staging, table, write_disposition)
            except duckdb.Error as exc:
                raise DicomlabError(
                    f"loading into DuckDB table {table!r} failed, the table is unchanged: {exc}"
                ) from exc
            finally:
                _drop_quietly(con, staging)
        return rows or 0

    def run_query(
        self,
        query: CannedQuery,
        params: Mapping[str, Any],
        *,
        table: str,
        source: str | None = None,
    ) -> pd.DataFrame:
        """Run a canned query, translated to DuckDB, with bound parameters.

        ``source`` names a canned query (``"current_state"``) to read instead of the table.
        """
        name = validate_table_name(table)

        def build(types: Mapping[str, str]) -> str:
            return query.to_duckdb(name, source=source, column_types=types)

        return self._run(build, name, params, query.name)

    def run_sql(self, sql: str, params: Mapping[str, Any], *, table: str) -> pd.DataFrame:
        """Run ad-hoc BigQuery SQL, translated to DuckDB, with bound parameters."""
        from dicomlab.queries import translate

        name = validate_table_name(table)

        def build(types: Mapping[str, str]) -> str:
            return translate(sql, table=name, column_types=types)

        return self._run(build, name, params, "SQL")

    def _run(
        self,
        build: Callable[[Mapping[str, str]], str],
        table: str,
        params: Mapping[str, Any],
        what: str,
    ) -> pd.DataFrame:
        """Translate (knowing ``table``'s column types) and run, on one connection."""
        with self.connection() as con:
            try:
                relation = con.table(table)  # binds the table: its types, at no cost
                types = dict(zip(relation.columns, map(str, relation.dtypes), strict=True))
                result = con.sql(build(types), params=dict(params)).to_arrow_table()
                return to_frame(result)  # the dtypes BigQuery's client gives
            except duckdb.CatalogException as exc:
                raise QueryError(
                    f"{what} failed on {self.url}: {exc}. Has the metadata been exported? "
                    "Run lab.export_metadata() first."
                ) from exc
            except duckdb.Error as exc:
                bound = f" (parameters: {reprlib.repr(dict(params))})" if params else ""
                raise QueryError(f"{what} failed on {self.url}: {exc}{bound}") from exc


def _stage(con: duckdb.DuckDBPyConnection, staging: str, chunks: Iterable[pa.Table]) -> int | None:
    """Copy every chunk into ``staging``; the row count, or ``None`` when there was no chunk."""
    rows, schema = 0, None
    for chunk in chunks:
        for name in chunk.column_names:
            _quote(name)
        con.register(_CHUNK, chunk)
        try:
            if schema is None:
                con.execute(f"CREATE TABLE {_quote(staging)} AS SELECT * FROM {_CHUNK}")
                schema = chunk.schema
            elif chunk.schema.equals(schema):
                con.execute(f"INSERT INTO {_quote(staging)} BY NAME SELECT * FROM {_CHUNK}")
            else:
                _append(con, staging, _CHUNK)
        finally:
            con.unregister(_CHUNK)
        rows += chunk.num_rows
    return rows if schema is not None else None


def _publish(
    con: duckdb.DuckDBPyConnection, staging: str, table: str, write_disposition: str
) -> None:
    """Apply the write disposition to ``table`` from ``staging``, in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        exists = _exists(con, table)
        if exists and write_disposition == "WRITE_EMPTY":
            result = con.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()
            if result and result[0]:  # rows arrived while the chunks were staged
                raise not_empty_error(table, int(result[0]))
        if exists and write_disposition == "WRITE_APPEND":
            _append(con, table, staging)
        else:
            con.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
            con.execute(f"ALTER TABLE {_quote(staging)} RENAME TO {_quote(table)}")
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # DuckDB may have rolled back already
            con.execute("ROLLBACK")
        raise


def _drop_quietly(con: duckdb.DuckDBPyConnection, staging: str) -> None:
    """Drop the staging table without hiding the error that brought us here."""
    try:
        con.execute(f"DROP TABLE IF EXISTS {_quote(staging)}")
    except duckdb.Error:
        logger.warning("could not drop the staging table %s", staging, exc_info=True)


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute(
        "SELECT COUNT(*) FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name = $name",
        {"name": table},
    ).fetchone()
    return bool(found and found[0])


def _append(con: duckdb.DuckDBPyConnection, table: str, source: str) -> None:
    """Insert ``source``'s rows into ``table`` by column name, adding missing columns."""
    have = {r[0] for r in con.execute(f"DESCRIBE {_quote(table)}").fetchall()}
    for name, kind, *_ in con.execute(f"DESCRIBE {_quote(source)}").fetchall():
        if name not in have:
            con.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(name)} {kind}")
    con.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM {_quote(source)}")
