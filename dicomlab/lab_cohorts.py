"""The Lab's verbs for cohorts: filter files into the bucket, cohort exports.

:class:`CohortVerbs` is a base of :class:`~dicomlab.lab.Lab`, kept apart so
each module reads as one group of verbs. Its methods use the Lab's store,
warehouse, bucket and share mode, declared below for the type checker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dicomlab.buckets.base import Bucket
from dicomlab.cohort import CohortExport, export_cohort
from dicomlab.core.filterfile import FilterFile
from dicomlab.core.validation import validate_flag
from dicomlab.errors import DicomlabError
from dicomlab.google.cohort_export import cloud_filter_file
from dicomlab.share import scrubbed_errors
from dicomlab.stores.base import Store
from dicomlab.warehouses.base import Warehouse

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CohortVerbs"]


class CohortVerbs:
    """Filter files uploaded to a Lab's bucket, cohort exports with provenance."""

    _store: Store
    _warehouse: Warehouse
    _bucket: Bucket

    if TYPE_CHECKING:  # defined by Lab

        def shown(self, value: Any) -> Any: ...

        def _real(self, value: Any) -> Any: ...

        def _table(self, table: str | None) -> str: ...

    @scrubbed_errors
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
        filter_file, name = self._real(filter_file), self._real(name)
        uri = self._bucket.upload_bytes(
            filter_file.to_bytes(), name or filter_file.content_name(), overwrite=overwrite
        )
        shown: str = self.shown(uri)
        return shown

    @scrubbed_errors
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
        done = export_cohort(
            self._store,
            self._bucket,
            self._warehouse,
            self._real(df),
            destination=self._real(destination),
            level=level,
            name=self._real(name),
            overwrite=overwrite,
            write_disposition=write_disposition,
            mime_type=mime_type,
            timeout=timeout,
            progress=progress,
        )
        shown: CohortExport = self.shown(done)  # the saved record stays real
        return shown

    @scrubbed_errors
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
        made = cloud_filter_file(
            self._warehouse,
            self._bucket,
            name,
            self._real(uri),
            table=self._table(table),
            level=level,
            overwrite=validate_flag(overwrite, "overwrite"),
            params=self._real(params),
        )
        shown: str = self.shown(made)
        return shown
