"""The embedded warehouse: a DuckDB file.

Each operation opens its own short-lived connection, so a notebook and a script
(or two notebooks) can share one warehouse file without holding its lock.

Table names follow DuckDB's rule: they are case-insensitive (``DICOM_METADATA``
is the table ``dicom_metadata``), and a table keeps the spelling it was created
with. DuckDB's failures are translated in one place (:mod:`dicomlab.warehouses.duckdb_errors`): a
file held by another process, a read-only folder or a full disk become
:class:`~dicomlab.errors.LocalFileError` naming the file, and Ctrl-C stays a
``KeyboardInterrupt``.
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

from dicomlab.core.queries import CannedQuery, translate_script, validate_sql
from dicomlab.core.resources import SQL_IDENTIFIER_RE, validate_table_name
from dicomlab.core.sqlscript import DuckDBScript, Statement
from dicomlab.errors import DicomlabError, QueryError
from dicomlab.warehouses.base import not_empty_error, validate_write_disposition
from dicomlab.warehouses.duckdb_errors import check_file, file_error, translated
from dicomlab.warehouses.duckdb_information_schema import fill_views
from dicomlab.warehouses.duckdb_schema import merged_type
from dicomlab.warehouses.frames import to_frame

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["DuckDBWarehouse"]

logger = logging.getLogger(__name__)
_CHUNK = "__dicomlab_chunk"
# Staging tables are hidden from tables(); one left by a killed process is harmless.
_STAGING_PREFIX = "__dicomlab_staging_"


def _quote(identifier: str) -> str:
    """Quote an identifier that has already been checked against a strict pattern."""
    if SQL_IDENTIFIER_RE.fullmatch(identifier) is None:
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
        if self._memory is None:
            check_file(Path(self.path))

    @property
    def url(self) -> str:
        return f"duckdb:///{self.path}" if self.path != ":memory:" else "duckdb:///:memory:"

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({self.path!r})"

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one operation (a cursor of the shared one for ``:memory:``).

        DuckDB's own progress bar is off: it would print into notebook and script
        output (dicomlab reports progress through ``tqdm.auto``, or not at all).
        """
        if self._memory is not None:
            con = self._memory.cursor()
        else:
            path = Path(self.path)
            check_file(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise file_error(self.path, "opening", exc.errno, str(exc)) from exc
            with translated(self.path, "opening"):
                con = duckdb.connect(self.path)
        try:
            with translated(self.path, "opening"):  # Ctrl-C here is a KeyboardInterrupt too
                con.execute("SET enable_progress_bar = false")
            yield con
        finally:
            con.close()  # a cursor of the shared in-memory database, or the file's connection

    def tables(self) -> list[str]:
        """Names of the tables in the main schema, as they were spelled when created."""
        with self.connection() as con, translated(self.path, "reading"):
            return _table_names(con)

    def count_rows(self, table: str) -> int | None:
        """Rows in ``table`` (its name in any case), or ``None`` when it does not exist.

        >>> import pyarrow as pa
        >>> wh = DuckDBWarehouse(":memory:")
        >>> wh.load("dicom_metadata", pa.table({"A": ["x"]}))
        1
        >>> wh.count_rows("DICOM_METADATA")
        1
        """
        validate_table_name(table)
        with self.connection() as con, translated(self.path, "reading"):
            return _row_count(con, table)

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
        staging = f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        with self.connection() as con:
            if write_disposition == "WRITE_EMPTY":
                with translated(self.path, "reading"):
                    existing = _row_count(con, table)
                if existing:
                    raise not_empty_error(table, existing)
            try:
                with translated(
                    self.path, f"loading table {table!r} into", ", the table is unchanged"
                ):
                    rows = _stage(con, staging, chunks)
                    if rows is not None:
                        _publish(con, staging, table, write_disposition)
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
        """Run ad-hoc BigQuery SQL or a script, translated to DuckDB, with bound parameters.

        A script's statements before the last (variables, temporary functions and
        tables) run on one connection, which ends with the call; the last gives the
        rows (:mod:`dicomlab.core.sqlscript`).
        """
        validate_sql(sql)
        name = validate_table_name(table)

        def build(types: Mapping[str, str]) -> DuckDBScript:
            return translate_script(sql, table=name, column_types=types)

        return self._run(build, name, params, "SQL")

    def _run(
        self,
        build: Callable[[Mapping[str, str]], str | DuckDBScript],
        table: str,
        params: Mapping[str, Any],
        what: str,
    ) -> pd.DataFrame:
        """Translate (knowing ``table``'s column types) and run, on one connection."""
        with self.connection() as con:
            types: dict[str, str] = {}
            try:
                with contextlib.suppress(duckdb.CatalogException):  # no table: SQL may not need it
                    relation = con.table(table)  # binds the table: its types, at no cost
                    types = dict(zip(relation.columns, map(str, relation.dtypes), strict=True))
                script = build(types)
                if isinstance(script, str):
                    script = DuckDBScript((), Statement(script, frozenset(params)))
                if script.views:
                    fill_views(con, script.views, _table_names(con))
                for statement in script.setup:  # rows of earlier queries are discarded
                    con.execute(statement.sql, _bound(params, statement)).fetchall()
                query = script.query
                result = con.sql(query.sql, params=_bound(params, query)).to_arrow_table()
                return to_frame(result)  # the dtypes BigQuery's client gives
            except duckdb.Error as exc:
                raise _query_error(exc, what, self.url, table, types, params) from exc


def _bound(params: Mapping[str, Any], statement: Statement) -> dict[str, Any]:
    """The parameters one statement reads (DuckDB refuses any other)."""
    return {k: v for k, v in params.items() if k in statement.parameters}


# DuckDB names an unknown column only in its message (its binder error has no fields).
_UNKNOWN_COLUMN = re.compile(
    r'Referenced column "(?P<a>[^"]+)" not found|does not have a column named "(?P<b>[^"]+)"'
)


def _query_error(
    exc: duckdb.Error,
    what: str,
    url: str,
    table: str,
    types: Mapping[str, str],
    params: Mapping[str, Any],
) -> QueryError:
    """A failed query as a :class:`QueryError` saying what to do next."""
    if isinstance(exc, duckdb.CatalogException) and not types:
        return QueryError(
            f"{what} failed on {url}: {exc}. Table {table!r} does not exist: has the "
            "metadata been exported? Run lab.export_metadata() first."
        )
    match = _UNKNOWN_COLUMN.search(str(exc)) if isinstance(exc, duckdb.BinderException) else None
    column = (match.group("a") or match.group("b")) if match else None
    if column and types and column.lower() not in {c.lower() for c in types}:
        # BigQuery refuses it too ("Unrecognized name"): the export makes a column
        # only for the elements that some instance carries (SPEC.md §1).
        return QueryError(
            f"{what} failed on {url}: column {column!r} is not in table {table!r}, because "
            f"no instance in the table carries it (BigQuery refuses the query too). "
            "Check the spelling, or list the columns with SELECT column_name FROM "
            "INFORMATION_SCHEMA.COLUMNS"
        )
    bound = f" (parameters: {reprlib.repr(dict(params))})" if params else ""
    return QueryError(f"{what} failed on {url}: {exc}{bound}")


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
    """Apply the write disposition to ``table`` from ``staging``, in one transaction.

    An existing table keeps its name as spelled when it was created, whatever
    the case of ``table``.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        name = _existing_name(con, table)
        if name is not None and write_disposition == "WRITE_EMPTY":
            result = con.execute(f"SELECT COUNT(*) FROM {_quote(name)}").fetchone()
            if result and result[0]:  # rows arrived while the chunks were staged
                raise not_empty_error(table, int(result[0]))
        if name is not None and write_disposition == "WRITE_APPEND":
            _append(con, name, staging)
        else:
            con.execute(f"DROP TABLE IF EXISTS {_quote(name or table)}")
            con.execute(f"ALTER TABLE {_quote(staging)} RENAME TO {_quote(name or table)}")
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error, RuntimeError):  # DuckDB may have rolled back
            con.execute("ROLLBACK")
        raise


def _drop_quietly(con: duckdb.DuckDBPyConnection, staging: str) -> None:
    """Drop the staging table without hiding the error that brought us here."""
    try:
        con.execute(f"DROP TABLE IF EXISTS {_quote(staging)}")
    except (duckdb.Error, RuntimeError):
        logger.warning("could not drop the staging table %s", staging, exc_info=True)


def _table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of the main schema, staging tables left out, sorted."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows if not r[0].startswith(_STAGING_PREFIX)]


def _row_count(con: duckdb.DuckDBPyConnection, table: str) -> int | None:
    """Rows in ``table`` (its name in any case), or ``None`` when it does not exist."""
    if _existing_name(con, table) is None:
        return None
    result = con.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()
    return int(result[0]) if result else 0


def _existing_name(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The table's name as created, matched as DuckDB matches names (ignoring case)."""
    found = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND lower(table_name) = lower($name)",
        {"name": table},
    ).fetchone()
    return str(found[0]) if found else None


def _append(con: duckdb.DuckDBPyConnection, table: str, source: str) -> None:
    """Insert ``source``'s rows into ``table`` by column name, widening ``table`` first.

    Columns and nested fields ``table`` lacks are added; a column whose type
    cannot hold the new values unchanged is refused (:func:`merged_type`),
    before any row moves.
    """
    have = con.table(table)
    types = {
        name.lower(): (name, kind) for name, kind in zip(have.columns, have.dtypes, strict=True)
    }
    new = con.table(source)
    for name, kind in zip(new.columns, new.dtypes, strict=True):
        if name.lower() not in types:
            # Rows already there hold an empty list, not NULL, as a REPEATED column in BigQuery.
            default = " DEFAULT []" if kind.id == "list" else ""
            con.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(name)} {kind}{default}")
            continue
        column, current = types[name.lower()]
        wanted = merged_type(column, current, kind)
        if wanted != current:
            con.execute(f"ALTER TABLE {_quote(table)} ALTER COLUMN {_quote(column)} TYPE {wanted}")
    con.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM {_quote(source)}")
