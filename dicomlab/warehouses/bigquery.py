"""BigQuery as the warehouse, through google-cloud-bigquery (``bq://PROJECT.DATASET``).

Queries are BigQuery Standard SQL with named parameters built from Python
values (never interpolated). Every query is dry-run first: the estimate of
bytes processed is checked against ``max_bytes_billed`` (the query is never
started when it is over), then the query runs with the same cap set on the
job, so BigQuery itself refuses to bill more. Results come back with the same
dtypes as the DuckDB warehouse (:func:`dicomlab.warehouses.frames.to_frame`),
and the job's id, bytes and cache hit are kept in ``df.attrs["dicomlab.job"]``.

Loads write every chunk into one local Parquet file and send it as one load
job with the explicit schema and the requested write disposition: the table
changes in one step, or not at all. Every ``google.api_core`` failure is
translated in one place (:mod:`dicomlab.warehouses.bigquery_errors`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from dicomlab.core.queries import CannedQuery, for_bigquery
from dicomlab.core.resources import BigQueryDataset, validate_table_name
from dicomlab.errors import CostLimitError, NotFoundError, QueryError, UnsupportedBackendError
from dicomlab.rows.bqschema import schema_from_arrow
from dicomlab.warehouses.base import validate_write_disposition
from dicomlab.warehouses.bigquery_errors import translated
from dicomlab.warehouses.bigquery_params import query_parameter
from dicomlab.warehouses.bigquery_schema import added_fields, merged_fields
from dicomlab.warehouses.frames import to_frame

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["DEFAULT_MAX_BYTES_BILLED", "BigQueryWarehouse", "CostLimitError", "query_parameter"]

logger = logging.getLogger(__name__)
JOB_ATTRS = "dicomlab.job"
DEFAULT_MAX_BYTES_BILLED = 10 * 2**30  # 10 GiB: about USD 0.06 at on-demand prices
# BigQuery extracts at most 1 GB into one file; more needs a wildcard URI (several files).
SINGLE_FILE_EXTRACT_LIMIT = 1_000_000_000


def _require_client_library(url: str) -> None:
    """Refuse, saying what to install, when google-cloud-bigquery is not importable."""
    try:
        found = importlib.util.find_spec("google.cloud.bigquery") is not None
    except (ImportError, ValueError):  # a missing parent package, or a blocked one
        found = False
    if not found:
        raise UnsupportedBackendError(
            f"warehouse {url!r} needs Google's BigQuery client library, which is not "
            "installed (dicomlab installs it, so it was removed): pip install "
            "google-cloud-bigquery, then connect again"
        )


def _size(n: float) -> str:
    """Bytes for people: ``1.5 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class BigQueryWarehouse:
    """Tables in one BigQuery dataset, written ``bq://PROJECT.DATASET``.

    Parameters
    ----------
    dataset
        The dataset (it must exist; loads say how to create it when it does not).
    client
        A ``google.cloud.bigquery.Client``; by default one from Application
        Default Credentials (``BIGQUERY_EMULATOR_HOST`` is honoured).
    max_bytes_billed
        The most bytes one query may process and bill; a query whose dry run
        is over it is never started. ``None`` removes the cap.
    location
        The dataset's location for jobs (``None``: BigQuery decides).
    progress
        Show a progress line (with the dry run's estimate) for queries over a second.

    Examples
    --------
    No request is made until a query or a load: the client is made on first use.

    >>> wh = BigQueryWarehouse("bq://my-project.imaging")
    >>> wh.max_bytes_billed = 50 * 2**30     # allow 50 GiB per query
    >>> wh.url, wh.table_id("dicom_metadata")
    ('bq://my-project.imaging', 'my-project.imaging.dicom_metadata')
    """

    def __init__(
        self,
        dataset: BigQueryDataset | str,
        *,
        client: Any = None,
        max_bytes_billed: int | None = DEFAULT_MAX_BYTES_BILLED,
        location: str | None = None,
        progress: bool = True,
    ) -> None:
        self.dataset = (
            dataset if isinstance(dataset, BigQueryDataset) else BigQueryDataset.parse(dataset)
        )
        if client is None:
            _require_client_library(str(self.dataset))
        self._client = client
        self.max_bytes_billed = max_bytes_billed
        self.location = location
        self.progress = progress

    @property
    def client(self) -> Any:
        """The google-cloud-bigquery client (made on first use)."""
        if self._client is None:
            from google.cloud import bigquery

            self._client = bigquery.Client(project=self.dataset.project_id, location=self.location)
        return self._client

    @property
    def url(self) -> str:
        return str(self.dataset)

    def __repr__(self) -> str:
        cap = _size(self.max_bytes_billed) if self.max_bytes_billed is not None else "no cap"
        return f"BigQueryWarehouse({self.url!r}, max_bytes_billed={cap})"

    def table_id(self, table: str) -> str:
        """``PROJECT.DATASET.TABLE`` for a table of this dataset (the name validated)."""
        return f"{self.dataset.project_id}.{self.dataset.dataset_id}.{validate_table_name(table)}"

    # ---- tables --------------------------------------------------------------------------

    def count_rows(self, table: str) -> int | None:
        """Rows in ``table`` (from its metadata), or ``None`` when it does not exist."""
        table_id = self.table_id(table)
        try:
            with translated(f"table {table_id}"):
                found = self.client.get_table(table_id)
        except NotFoundError:
            return None
        return int(found.num_rows or 0)

    def _check_dataset(self) -> None:
        try:
            with translated(f"dataset {self.url}"):
                self.client.get_dataset(f"{self.dataset.project_id}.{self.dataset.dataset_id}")
        except NotFoundError as exc:
            raise NotFoundError(
                f"BigQuery dataset {self.url} does not exist: create it first "
                f"(bq mk --dataset {self.dataset.project_id}:{self.dataset.dataset_id})"
            ) from exc

    def load(self, table: str, data: pa.Table, *, write_disposition: str = "WRITE_EMPTY") -> int:
        """Load one Arrow table (see :meth:`load_chunks`)."""
        return self.load_chunks(table, [data], write_disposition=write_disposition)

    def load_chunks(
        self, table: str, chunks: Iterable[pa.Table], *, write_disposition: str = "WRITE_EMPTY"
    ) -> int:
        """Load Arrow tables as one load job; the table changes only if every chunk is in.

        The chunks are written to a local Parquet file first (bounded memory),
        then sent with the schema taken from their Arrow schema (nested and
        repeated fields included) and ``write_disposition``. An append to an
        existing table sends the table's schema with the new fields added
        (BigQuery's ``ALLOW_FIELD_ADDITION``, nested fields too), and is refused
        before anything is sent when a field's type or mode differs
        (:func:`~dicomlab.warehouses.bigquery_schema.merged_fields`).
        """
        import pyarrow.parquet as pq
        from google.cloud import bigquery

        validate_write_disposition(write_disposition)
        table_id = self.table_id(table)
        self._check_dataset()
        with tempfile.NamedTemporaryFile(suffix=".parquet") as spill:
            writer, schema, rows = None, None, 0
            for chunk in chunks:
                if writer is None:
                    schema = chunk.schema
                    writer = pq.ParquetWriter(spill.name, schema)
                writer.write_table(chunk)
                rows += chunk.num_rows
            if writer is None:
                return 0
            writer.close()
            fields, updates = self._load_schema(table_id, schema, write_disposition)
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                schema=[bigquery.SchemaField.from_api_repr(f) for f in fields],
                write_disposition=write_disposition,
                create_disposition="CREATE_IF_NEEDED",
            )
            if updates:
                config.schema_update_options = updates
            with translated(f"load into {table_id}"), open(spill.name, "rb") as handle:
                job = self.client.load_table_from_file(handle, table_id, job_config=config)
                job.result()
        logger.info("loaded %d rows into %s (%s)", rows, table_id, write_disposition)
        return rows

    def _load_schema(
        self, table_id: str, schema: Any, write_disposition: str
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The REST schema fields a load sends, and its schema update options."""
        import pyarrow as pa

        fields = [f.to_api_repr() for f in schema_from_arrow(schema)]
        if write_disposition != "WRITE_APPEND":
            return fields, []
        try:
            with translated(f"table {table_id}"):
                existing = [f.to_api_repr() for f in self.client.get_table(table_id).schema]
        except NotFoundError:
            return fields, []  # the load creates the table
        # A column that holds only NULLs in these rows takes the table's type.
        nulls = {f.name.lower() for f in schema if pa.types.is_null(f.type)}
        by_name = {str(f["name"]).lower(): f for f in existing}
        fields = [
            by_name.get(f["name"].lower(), f) if f["name"].lower() in nulls else f for f in fields
        ]
        merged = merged_fields(existing, fields)
        return merged, (["ALLOW_FIELD_ADDITION"] if added_fields(existing, merged) else [])

    # ---- queries -------------------------------------------------------------------------

    def run_query(
        self,
        query: CannedQuery,
        params: Mapping[str, Any],
        *,
        table: str,
        source: str | None = None,
    ) -> pd.DataFrame:
        """Run a canned query with its declared parameter types (``source`` as on DuckDB)."""
        sql = query.to_bigquery(self.table_id(table), source=source)
        declared = {p.name: p.type for p in query.parameters}
        return self._run(sql, params, declared, query.name)

    def run_sql(self, sql: str, params: Mapping[str, Any], *, table: str) -> pd.DataFrame:
        """Run ad-hoc BigQuery SQL or a script (``dicom_metadata`` names ``table``).

        The text goes as written (qualified table names, ``DECLARE``, ``SET``,
        ``CREATE TEMP FUNCTION`` and ``INFORMATION_SCHEMA`` included); only an
        unqualified ``dicom_metadata`` and a legacy ``[project:dataset.table]``
        are rewritten (:func:`dicomlab.core.queries.for_bigquery`). Parameter types
        follow the values.
        """
        text = for_bigquery(sql, self.table_id(table))
        return self._run(text, params, {}, "SQL")

    def dry_run(self, sql: str, params: Mapping[str, Any], declared: Mapping[str, str]) -> int:
        """Bytes the query would process (no cost)."""
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            dry_run=True, use_query_cache=False, query_parameters=self._params(params, declared)
        )
        with translated("dry run"):
            job = self.client.query(sql, job_config=config, location=self.location)
        return int(job.total_bytes_processed or 0)

    def _params(self, params: Mapping[str, Any], declared: Mapping[str, str]) -> list[Any]:
        return [query_parameter(k, v, declared.get(k)) for k, v in params.items()]

    def _run(
        self, sql: str, params: Mapping[str, Any], declared: Mapping[str, str], what: str
    ) -> pd.DataFrame:
        from google.cloud import bigquery
        from tqdm.auto import tqdm

        estimate = self.dry_run(sql, params, declared)
        cap = self.max_bytes_billed
        if cap is not None and estimate > cap:
            raise CostLimitError(
                f"{what} would process {_size(estimate)} ({estimate} bytes), over the cap of "
                f"{_size(cap)}; narrow the query, or raise the cap with "
                f"lab.warehouse.max_bytes_billed = {estimate} (None removes it)"
            )
        logger.info("%s: %s to process (dry run)", what, _size(estimate))
        config = bigquery.QueryJobConfig(
            query_parameters=self._params(params, declared), maximum_bytes_billed=cap
        )
        label = f"BigQuery {what}: {_size(estimate)} to process"
        with (
            translated(what),
            tqdm(total=1, desc=label, disable=not self.progress, delay=1.0) as bar,
        ):
            job = self.client.query(sql, job_config=config, location=self.location)
            rows = job.result()
            frame = to_frame(rows.to_arrow(create_bqstorage_client=False))
            bar.update(1)
        frame.attrs[JOB_ATTRS] = {
            "job_id": job.job_id,
            "location": job.location,
            "bytes_estimated": estimate,
            "bytes_processed": job.total_bytes_processed,
            "bytes_billed": job.total_bytes_billed,
            "cache_hit": job.cache_hit,
        }
        return frame

    # ---- server-side filter files -------------------------------------------------------

    def extract_lines(
        self,
        sql: str,
        params: Mapping[str, Any],
        declared: Mapping[str, str],
        uri: str,
    ) -> int:
        """Run ``sql`` (one ``path`` column) into a scratch table, extract it to ``uri``.

        The object is a headerless one-column CSV: a filter file. Refused, before
        any extract, when the lines would not fit in one file. Returns the line
        count; the scratch table is always deleted.
        """
        import uuid

        from google.cloud import bigquery

        estimate = self.dry_run(sql, params, declared)
        if self.max_bytes_billed is not None and estimate > self.max_bytes_billed:
            raise CostLimitError(
                f"the filter-file query would process {_size(estimate)}, over the cap of "
                f"{_size(self.max_bytes_billed)}; raise lab.warehouse.max_bytes_billed"
            )
        scratch = self.table_id(f"_dicomlab_filter_{uuid.uuid4().hex}")
        config = bigquery.QueryJobConfig(
            query_parameters=self._params(params, declared),
            maximum_bytes_billed=self.max_bytes_billed,
            destination=scratch,
            write_disposition="WRITE_TRUNCATE",
        )
        try:
            with translated("filter-file query"):
                self.client.query(sql, job_config=config, location=self.location).result()
                table = self.client.get_table(scratch)
            rows, size = int(table.num_rows or 0), int(table.num_bytes or 0)
            if size > SINGLE_FILE_EXTRACT_LIMIT:
                raise QueryError(
                    f"the filter file would have {rows} lines ({_size(size)}): BigQuery "
                    f"extracts at most 1 GB into one object and would shard it into several "
                    "files; narrow the cohort (e.g. by StudyDate) or build it at study level"
                )
            extract = bigquery.ExtractJobConfig(  # type: ignore[no-untyped-call]
                destination_format="CSV", print_header=False
            )
            with translated(f"extract to {uri}"):
                self.client.extract_table(
                    scratch, uri, job_config=extract, location=self.location
                ).result()
        finally:
            with contextlib.suppress(Exception):
                self.client.delete_table(scratch, not_found_ok=True)
        return rows
