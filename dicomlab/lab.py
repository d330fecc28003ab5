"""The ``Lab``: one store, one warehouse, one bucket, and the researcher's verbs."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from dicomlab.backends import check_home, check_specs, open_bucket, open_store, open_warehouse
from dicomlab.buckets.base import Bucket
from dicomlab.cohort import QUERY_ATTRS, CohortExport, export_cohort
from dicomlab.core.filterfile import FilterFile
from dicomlab.core.queries import list_queries, load_query
from dicomlab.core.resources import validate_table_name
from dicomlab.core.validation import validate_count, validate_flag
from dicomlab.errors import DicomlabError, InvalidRequestError
from dicomlab.export.pipeline import ExportResult, export_store_metadata
from dicomlab.google.cohort_export import cloud_filter_file
from dicomlab.notebook.gallery import distinct_rows, page_tiles
from dicomlab.notebook.review import Review
from dicomlab.notebook.viewer import SeriesViewer
from dicomlab.redaction import redact_url
from dicomlab.samples.sample import default_home
from dicomlab.stores.base import Store
from dicomlab.warehouses.base import Warehouse
from dicomlab.warehouses.decisions import DecisionLog

if TYPE_CHECKING:
    import pandas as pd

    from dicomlab.notebook.widgets import ThumbnailGrid, Tile

__all__ = ["DEFAULT_TABLE", "Lab", "connect"]

DEFAULT_TABLE = "dicom_metadata"


def connect(
    store: Any = None,
    warehouse: Any = None,
    bucket: Any = None,
    *,
    home: str | os.PathLike[str] | None = None,
    table: str = DEFAULT_TABLE,
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
    )


class Lab:
    """A store, a warehouse and a bucket wired together.

    Build one with :func:`connect`; adapters can also be injected directly.
    """

    def __init__(
        self, store: Store, warehouse: Warehouse, bucket: Bucket, *, table: str = DEFAULT_TABLE
    ) -> None:
        self.store = store
        self.warehouse = warehouse
        self.bucket = bucket
        self.table = validate_table_name(table)

    def _table(self, table: str | None) -> str:
        """``table``, or ``lab.table`` when it is ``None`` (an empty name is an error)."""
        return validate_table_name(self.table if table is None else table)

    def _urls(self) -> tuple[str, str, str]:
        """The store's, warehouse's and bucket's URLs as they may be shown (no credentials)."""
        return (
            redact_url(str(self.store.url)),
            redact_url(str(self.warehouse.url)),
            redact_url(str(self.bucket.url)),
        )

    def __repr__(self) -> str:
        store, warehouse, bucket = self._urls()
        return (
            f"Lab(store={store!r}, warehouse={warehouse!r}, "
            f"bucket={bucket!r}, table={self.table!r})"
        )

    def _repr_html_(self) -> str:
        rows = self.warehouse.count_rows(self.table)
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
        return f"<div><b>dicomlab Lab</b><table>{body}</table></div>"

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
        if engine not in ("local", "beam"):
            raise InvalidRequestError(
                f"engine={engine!r} is not an export engine; use 'local' or 'beam'", value=engine
            )
        if engine == "beam":
            from dicomlab.export.beamrun import export_with_beam

            if streaming_columns:
                raise InvalidRequestError(
                    "streaming_columns=True is the local engine's; export with engine='local'",
                    value=streaming_columns,
                )

            result = export_with_beam(
                self.store,
                self.warehouse,
                table=name,
                write_disposition=write_disposition,
                runner=runner,
                options=pipeline_options,
                allow_partial=allow_partial,
            )
            self.table = name
            return result
        result = export_store_metadata(
            self.store,
            self.warehouse,
            table=name,
            write_disposition=write_disposition,
            progress=progress,
            workers=workers,
            chunk_size=chunk_size,
            streaming_columns=streaming_columns,
            allow_partial=allow_partial,
        )
        self.table = name
        return result

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
        bound = query.bind(params)
        target = self._table(table)
        result = self.warehouse.run_query(query, bound, table=target, source=source)
        _remember(result, name=name, sql=query.sql, params=bound, table=target, source=source)
        return result

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
        result = self.warehouse.run_sql(text, params, table=self._table(table))
        _remember(result, name=None, sql=text, params=params, table=self._table(table))
        return result

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

    def upload(
        self, filter_file: FilterFile, name: str | None = None, *, overwrite: bool = False
    ) -> str:
        """Write a filter file into the bucket and return its URI.

        ``name`` defaults to a content-derived name; an existing object is never
        replaced unless ``overwrite=True``.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> lab.upload(FilterFile.from_dataframe(hits, level="series"), "cohort.txt")
        'file:///.../bucket/cohort.txt'
        """
        overwrite = validate_flag(overwrite, "overwrite")  # "no" must not replace an object
        if not isinstance(filter_file, FilterFile):
            raise DicomlabError(
                f"upload takes a FilterFile, not {type(filter_file).__name__}; build one with "
                "dicomlab.FilterFile.from_dataframe(df)"
            )
        return self.bucket.upload_bytes(
            filter_file.to_bytes(), name or filter_file.content_name(), overwrite=overwrite
        )

    def export_cohort(
        self,
        df: pd.DataFrame | FilterFile | str,
        destination: str,
        *,
        level: str | None = None,
        name: str | None = None,
        overwrite: bool = False,
        write_disposition: str = "WRITE_EMPTY",
        mime_type: str | None = None,
        timeout: float | None = None,
        progress: bool = True,
    ) -> CohortExport:
        """Export exactly the cohort ``df`` names, and keep a provenance record.

        Builds and validates the filter file, uploads it to the bucket, then
        exports: on a Cloud Healthcare store the server does it
        (``dicomStores.export`` with the filter file) and this waits on the
        operation; on any other store the client-side equivalent runs (metadata
        into the warehouse for ``bq://…`` or a table name, instance files into
        a ``gs://…`` bucket or a folder). The provenance record (filter file
        URI and checksum, the query behind ``df``, counters, times, version) is
        returned and saved next to the filter file. ``df`` may also be a
        ``FilterFile``, or the URI :meth:`upload` returned: that file is
        exported as it is, not uploaded again.
        See :func:`dicomlab.cohort.export_cohort` for the parameters.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> lab.export_cohort(hits, "cohort_metadata", progress=False).counters
        {'success': 7, 'failure': 0}
        """
        return export_cohort(
            self.store,
            self.bucket,
            self.warehouse,
            df,
            destination=destination,
            level=level,
            name=name,
            overwrite=overwrite,
            write_disposition=write_disposition,
            mime_type=mime_type,
            timeout=timeout,
            progress=progress,
        )

    def filter_file_in_cloud(
        self,
        name: str,
        /,
        uri: str,
        *,
        level: str = "series",
        overwrite: bool = False,
        table: str | None = None,
        **params: Any,
    ) -> str:
        """Build a filter file in BigQuery for a cohort too big for the notebook.

        The canned query ``name`` (with ``params``) runs in BigQuery; its rows
        become filter-file lines there, go to a scratch table, and are
        extracted to ``uri`` (``gs://…``) as a headerless one-column CSV, which
        *is* the filter file. Its first lines are read back and validated.
        Needs a BigQuery warehouse; an existing object is not replaced unless
        ``overwrite=True``. Returns ``uri``.

        >>> lab.filter_file_in_cloud("studies_by_modality", "gs://b/cohorts/ct.txt",
        ...                          modality="CT", level="study")          # doctest: +SKIP
        'gs://b/cohorts/ct.txt'
        """
        return cloud_filter_file(
            self.warehouse,
            self.bucket,
            name,
            uri,
            table=self._table(table),
            level=level,
            overwrite=validate_flag(overwrite, "overwrite"),
            params=params,
        )

    def images(
        self,
        df: pd.DataFrame,
        *,
        limit: int = 48,
        size: int = 128,
        columns: int = 6,
        media_type: str = "image/png",
        progress: bool = True,
        concurrency: int = 8,
        viewer: bool = True,
    ) -> ThumbnailGrid:
        """Thumbnails of the rows' instances (one per study or series for coarser rows).

        ``limit`` tiles make a page; further pages are fetched when the widget's
        "next" button is pressed. With ``viewer=True`` each tile has an "open"
        button that shows its series in a :class:`~dicomlab.notebook.viewer.SeriesViewer`
        below the grid.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> grid = lab.images(hits, limit=4, progress=False)
        >>> grid.page_count                    # one tile per series: 7 tiles, 4 on a page
        2
        """
        # ipywidgets, pydicom and Pillow load with the widgets: only once images are asked for.
        from dicomlab.notebook.widgets import ThumbnailGrid

        progress = validate_flag(progress, "progress")
        viewer = validate_flag(viewer, "viewer")
        limit = validate_count(limit, "limit", hint="the number of tiles on a page")
        size = validate_count(size, "size", hint="the tiles' width in pixels")
        validate_count(columns, "columns", hint="the number of tiles in a row")
        validate_count(concurrency, "concurrency", hint="how many images are fetched at once")
        rows = distinct_rows(df)

        def page(number: int) -> list[Tile]:
            return page_tiles(
                self.store,
                rows.iloc[number * limit : (number + 1) * limit],
                size=size,
                media_type=media_type,
                progress=progress,
                concurrency=concurrency,
            )

        def open_series(tile: Tile) -> Any:
            study, series, instance = tile.uids
            return self.view_series(study, series, start=instance or None).widget

        return ThumbnailGrid(
            page(0),
            columns=columns,
            tile_size=size,
            on_open=open_series if viewer else None,
            page_count=max(1, -(-len(rows) // limit)),
            load_page=page,
        )

    def review(
        self,
        hits: pd.DataFrame,
        *,
        name: str,
        level: str = "series",
        reviewer: str | None = None,
        reasons: Sequence[str] = (),
        table: str = "review_decisions",
        size: int = 128,
        progress: bool = True,
    ) -> Review:
        """Review ``hits`` by looking: include or exclude each series (or instance).

        Shows the thumbnail grid with include / exclude buttons, a reason box
        and keys (see :mod:`dicomlab.notebook.review_grid`). Every decision is
        written to the warehouse table ``table`` as it is made, with
        ``reviewer`` (``$USER`` by default) and the time; opening the same
        ``name`` again shows the latest decisions. ``review.included()`` is
        ``hits`` without the excluded rows.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> review = lab.review(hits, name="doc-lung-qc", reviewer="ana", progress=False)
        >>> _ = review.decide(0, "exclude", reason="scout view")
        >>> review.counts()
        {'included': 0, 'excluded': 1, 'undecided': 3}
        """
        progress = validate_flag(progress, "progress")
        size = validate_count(size, "size", hint="the tiles' width in pixels")

        def tiles(rows: pd.DataFrame) -> Any:
            return page_tiles(self.store, rows, size=size, media_type="image/png",
                              progress=progress, concurrency=8)  # fmt: skip

        def open_series(tile: Any) -> Any:
            study, series, instance = tile.uids
            return self.view_series(study, series, start=instance or None).widget

        return Review(
            hits,
            name=name,
            log=DecisionLog(self.warehouse, table),
            level=level,
            reviewer=reviewer,
            reasons=reasons,
            tiles=tiles,
            on_open=open_series,
        )

    def reviewed(
        self,
        hits: pd.DataFrame,
        *,
        review: str,
        level: str | None = None,
        table: str = "review_decisions",
    ) -> pd.DataFrame:
        """``hits`` without the rows that review ``review`` excluded (no widget).

        ``level`` defaults to the level the review's decisions were made at.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> review = lab.review(hits, name="doc-reviewed", reviewer="ana", progress=False)
        >>> _ = review.decide(hits.loc[[0]], "exclude", reason="motion")  # that row's series
        >>> len(lab.reviewed(hits, review="doc-reviewed")) == len(review.included()) < len(hits)
        True
        """
        log = DecisionLog(self.warehouse, table)
        return Review(hits, name=review, log=log, level=level, reviewer="-").included()

    def view_series(
        self, study: str, series: str, *, start: int | str | None = None, size: int = 512
    ) -> SeriesViewer:
        """A viewer of one series: instance and frame sliders, window presets, metadata.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> lab.view_series(hits.StudyInstanceUID[0], hits.SeriesInstanceUID[0])
        SeriesViewer(instance 1 of 1, frame 1 of 1, window from the image)
        """
        return SeriesViewer(self.store, study, series, start=start, size=size)


def _remember(
    df: pd.DataFrame,
    *,
    name: str | None,
    sql: str,
    params: dict[str, Any],
    table: str,
    source: str | None = None,
) -> None:
    """Note on the DataFrame what produced it (read back by cohort provenance records)."""
    df.attrs[QUERY_ATTRS] = {
        "name": name,
        "sql": sql,
        "params": {
            k: v if isinstance(v, (str, int, float, bool)) else str(v) for k, v in params.items()
        },
        "table": table,
        "source": source,
        "job": df.attrs.get("dicomlab.job"),
        "run_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
