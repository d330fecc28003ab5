"""The ``Lab``: one store, one warehouse, one bucket, and the researcher's verbs."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomlab.backends import check_home, check_specs, open_bucket, open_store, open_warehouse
from dicomlab.buckets.base import Bucket
from dicomlab.core.queries import list_queries, load_query
from dicomlab.core.resources import validate_table_name
from dicomlab.export.beamrun import check_engine, export_with_beam
from dicomlab.export.pipeline import ExportResult, export_store_metadata
from dicomlab.lab_cohorts import CohortVerbs
from dicomlab.lab_images import ImageVerbs
from dicomlab.provenance import remember_query
from dicomlab.redaction import redact_url
from dicomlab.samples.sample import default_home
from dicomlab.share import (
    SHARE_ENV,
    ShareMode,
    ShareProxy,
    parse_share,
    scrubbed_errors,
    share_banner,
)
from dicomlab.stores.base import Store
from dicomlab.warehouses.base import Warehouse

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["DEFAULT_TABLE", "Lab", "connect"]

DEFAULT_TABLE = "dicom_metadata"


def connect(
    store: Any = None,
    warehouse: Any = None,
    bucket: Any = None,
    *,
    home: str | os.PathLike[str] | None = None,
    table: str = DEFAULT_TABLE,
    share: bool | str | None = None,
) -> Lab:
    """Open a :class:`Lab` on a store, a warehouse and a bucket.

    With no arguments everything is local (the *embedded default*): the sample
    cohort copied into ``HOME/store``, DuckDB in ``HOME/warehouse.duckdb``, and
    ``HOME/bucket``, where ``HOME`` is ``$DICOMLAB_HOME`` or the per-user data
    folder (:func:`dicomlab.samples.sample.default_home`), whatever the working directory.

    Parameters
    ----------
    store
        A folder of DICOM files, or ``None`` for the sample cohort.
    warehouse
        ``"duckdb:///path/lab.duckdb"``, a ``.duckdb`` path, ``":memory:"``, or ``None``.
    bucket
        A local folder, or ``None``.
    home
        The data folder for whatever is left to the default.
    table
        The metadata table queries run against.
    share
        Share mode (see the README): ``True`` de-identifies everything shown and
        withholds images that may carry burned-in text, ``"images"`` shows those
        too, ``False`` is off; ``None`` reads ``$DICOMLAB_SHARE`` (``1``, ``images``, ``0``).

    Examples
    --------
    >>> import dicomlab
    >>> lab = dicomlab.connect(home="my-lab")      # the embedded default, in ./my-lab
    >>> lab
    Lab(store='file:///.../my-lab/store', warehouse='duckdb:///.../my-lab/warehouse.duckdb',
        bucket='file:///.../my-lab/bucket', table='dicom_metadata')
    >>> lab.export_metadata(progress=False).success
    81
    >>> lab.query("latest_studies", limit=5).columns.tolist()
    ['StudyDateTime', 'PatientID', 'StudyInstanceUID', 'InstanceCount']
    """
    check_specs(store, warehouse, bucket)
    base = check_home(home) if home is not None else default_home()
    return Lab(
        open_store(store, base),
        open_warehouse(warehouse, base),
        open_bucket(bucket, base),
        table=table,
        share=parse_share(os.environ.get(SHARE_ENV), from_env=True)
        if share is None
        else parse_share(share),
        home=base,
    )


class Lab(CohortVerbs, ImageVerbs):
    """A store, a warehouse and a bucket wired together.

    Build one with :func:`connect`; adapters can also be injected directly.
    """

    def __init__(
        self,
        store: Store,
        warehouse: Warehouse,
        bucket: Bucket,
        *,
        table: str = DEFAULT_TABLE,
        share: bool | str = False,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        self._store, self._warehouse, self._bucket = store, warehouse, bucket
        self.table = validate_table_name(table)
        share = parse_share(share)
        # The adapters stay real inside the Lab; what the user reaches goes through the mode.
        self._share = (
            ShareMode(Path(home or default_home()), warehouse, self.table, images=share == "images")
            if share
            else None
        )
        self._share_setting: bool | str = share

    @property
    def share(self) -> bool | str:
        """``True`` or ``"images"`` in share mode (see :func:`connect`), else ``False``."""
        return self._share_setting

    @property
    def store(self) -> Store:
        """The store (in share mode, seen through it: pseudonyms out, real values in)."""
        return self._store if self._share is None else ShareProxy(self._store, self._share)

    @property
    def warehouse(self) -> Warehouse:
        """The warehouse (in share mode, seen through it)."""
        if self._share is None:
            return self._warehouse
        return ShareProxy(self._warehouse, self._share)

    @property
    def bucket(self) -> Bucket:
        """The bucket (in share mode, seen through it)."""
        return self._bucket if self._share is None else ShareProxy(self._bucket, self._share)

    def shown(self, value: Any) -> Any:
        """``value`` as this Lab shows it: de-identified in share mode, else itself.

        Compare a result with a value you know, in either mode:
        ``hits[hits.PatientID == lab.shown("98890234")]``.

        >>> lab.shown("98890234")
        '98890234'
        """
        return value if self._share is None else self._share.shown(value)

    def _real(self, value: Any) -> Any:
        """``value`` with share-mode pseudonyms mapped back to the real values."""
        return value if self._share is None else self._share.real(value)

    def _table(self, table: str | None) -> str:
        """``table``, or ``lab.table`` when it is ``None`` (an empty name is an error)."""
        return validate_table_name(self.table if table is None else table)

    def _urls(self) -> tuple[str, str, str]:
        """The store's, warehouse's and bucket's URLs as they may be shown (no credentials)."""
        return (
            redact_url(str(self._store.url)),
            redact_url(str(self._warehouse.url)),
            redact_url(str(self._bucket.url)),
        )

    def __repr__(self) -> str:
        store, warehouse, bucket = self._urls()
        shared = f", share={self.share!r}" if self.share else ""
        return (
            f"Lab(store={store!r}, warehouse={warehouse!r}, "
            f"bucket={bucket!r}, table={self.table!r}{shared})"
        )

    def _repr_html_(self) -> str:
        rows = self._warehouse.count_rows(self.table)
        status = "not exported yet" if rows is None else f"{rows} rows"
        store, warehouse, bucket = self._urls()
        cells = [
            ("store", store),
            ("warehouse", warehouse),
            ("bucket", bucket),
            ("table", f"{self.table} ({status})"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th>"
            f"<td style='text-align:left'><code>{html.escape(v)}</code></td></tr>"
            for k, v in cells
        )
        banner = share_banner(self.share)
        return f"<div><b>dicomlab Lab</b>{banner}<table>{body}</table></div>"

    @scrubbed_errors
    def export_metadata(
        self,
        table: str | None = None,
        write_disposition: str = "WRITE_EMPTY",
        *,
        progress: bool = True,
        workers: int | None = None,
        chunk_size: int = 2000,
        streaming_columns: bool = False,
        allow_partial: bool = False,
        engine: str = "local",
        runner: str | None = None,
        pipeline_options: Sequence[str] | str | None = None,
    ) -> ExportResult:
        """Export every instance's metadata into the warehouse table.

        Parameters
        ----------
        table
            Table name (letters, digits, underscores); defaults to ``lab.table``,
            and becomes ``lab.table`` for later queries.
        write_disposition
            ``"WRITE_EMPTY"`` (refuse a table that has rows), ``"WRITE_TRUNCATE"``
            (replace it) or ``"WRITE_APPEND"``. A failed export leaves the table as it was.
        progress
            Show a progress bar with success and failure counts.
        workers
            Processes that read files: ``None`` for one per CPU, ``1`` for none.
            They are kept for the next export (:mod:`dicomlab.export.workers`).
        chunk_size
            Instances per chunk; memory stays bounded whatever the store's size.
        streaming_columns
            Add the ``Type`` and ``LastUpdated`` columns of a streamed Healthcare
            table (see :func:`dicomlab.export.pipeline.export_store_metadata`).
        allow_partial
            When the store cannot be read for some instances (an outage, a file
            that cannot be opened): ``False`` raises
            :class:`~dicomlab.errors.IncompleteReadError` and leaves the table
            as it was; ``True`` exports the rest and marks the result
            ``partial``. Files that are not DICOM are reported either way.
        engine
            ``"local"`` (this machine) or ``"beam"``: the same export as an Apache
            Beam pipeline (:mod:`dicomlab.export.beam`, ``pip install 'dicomlab[beam]'``)
            for a folder or ``gs://`` store; ``workers``, ``chunk_size`` and
            ``streaming_columns`` are the local engine's.
        runner, pipeline_options
            The Beam runner (``"DirectRunner"`` by default, ``"DataflowRunner"``) and
            its options (``["--project=P", "--region=R", "--temp_location=gs://B/tmp"]``).

        Examples
        --------
        >>> result = lab.export_metadata(write_disposition="WRITE_TRUNCATE", progress=False)
        >>> result.success, result.failure
        (81, 0)
        """
        name = self._table(table)
        if check_engine(engine, streaming_columns) == "beam":
            result = export_with_beam(
                self._store,
                self._warehouse,
                table=name,
                write_disposition=write_disposition,
                runner=runner,
                options=pipeline_options,
                allow_partial=allow_partial,
            )
            self.table = name
            return result
        result = export_store_metadata(
            self._store,
            self._warehouse,
            table=name,
            write_disposition=write_disposition,
            progress=progress,
            workers=workers,
            chunk_size=chunk_size,
            streaming_columns=streaming_columns,
            allow_partial=allow_partial,
        )
        self.table = name
        if self._share is not None:
            self._share.table = name
            self._share.census(refresh=True)  # the new rows' identifiers are hidden from now on
        return result

    @scrubbed_errors
    def query(
        self, name: str, /, *, table: str | None = None, source: str | None = None, **params: Any
    ) -> pd.DataFrame:
        """Run a canned query from ``queries/`` and return a DataFrame.

        ``source="current_state"`` runs it over the current state of a streamed
        table (the latest row per instance, deleted instances removed) instead
        of every row.

        Examples
        --------
        >>> len(lab.query("latest_studies", limit=20))
        7
        >>> paths = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> paths.columns.tolist()
        ['DICOMwebPath', 'StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID']
        """
        query = load_query(name)
        bound = query.bind(self._real(params))
        target = self._table(table)
        result = self._warehouse.run_query(query, bound, table=target, source=source)
        remember_query(result, name=name, sql=query.sql, params=bound, table=target, source=source)
        shown: pd.DataFrame = self.shown(result)
        return shown

    @scrubbed_errors
    def sql(self, text: str, /, *, table: str | None = None, **params: Any) -> pd.DataFrame:
        """Run your own BigQuery SQL or script on ``dicom_metadata`` with ``@named`` parameters.

        On BigQuery the text goes as written (an unqualified ``dicom_metadata``
        becomes the lab's table). On DuckDB it is translated so that it gives
        BigQuery's answer: ``project.dataset.table`` reads the local table of
        that name, ``DECLARE``/``SET``/``CREATE TEMP FUNCTION`` scripts run with
        the last statement's rows returned, and ``INFORMATION_SCHEMA.COLUMNS``
        gives BigQuery's types. SQL with no faithful translation
        (``FORMAT('%t', …)``, a JavaScript function, DML) raises a
        :class:`~dicomlab.errors.QueryError` naming it, as does ``text`` that
        is not query text (``None``).

        >>> sql = "SELECT COUNT(*) AS n FROM dicom_metadata WHERE Modality = @m"
        >>> lab.sql(sql, m="MR")
            n
        0  17
        """
        params = self._real(params)
        result = self._warehouse.run_sql(text, params, table=self._table(table))
        remember_query(result, name=None, sql=text, params=params, table=self._table(table))
        shown: pd.DataFrame = self.shown(result)
        return shown

    def queries(self) -> pd.DataFrame:
        """The canned queries with their parameters and descriptions."""
        import pandas as pd  # heavy: only when the list is asked for

        rows = []
        for name in list_queries():
            query = load_query(name)
            params = ", ".join(f"{p.name} {p.type}" for p in query.parameters)
            rows.append({"name": name, "parameters": params, "description": query.description})
        table: pd.DataFrame = pd.DataFrame(rows)
        return table
