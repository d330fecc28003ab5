"""The metadata export as an Apache Beam pipeline: the transforms and how they are put together.

The pipeline does what the local export (:mod:`dicomlab.export.pipeline`)
does, with the same code, on any Beam runner (``DirectRunner`` here,
``DataflowRunner`` at scale):

1. the files are listed on the launching machine, in store order (a folder's
   :meth:`~dicomlab.stores.folder.FolderStore.iter_paths`, a ``gs://`` store's
   :meth:`~dicomlab.stores.gcsfiles.GcsFileStore.objects`), each with its index;
2. :class:`ReadHeaders` reads each header (local files as the export's workers
   do, objects by ranged reads) and flattens it with
   :func:`dicomlab.rows.flatten.flatten_dataset`: a row, or a failure;
3. one row per SOPInstanceUID: the first in store order, as the local ledger keeps;
4. **the schema step**: :class:`UnionColumns` merges the distinct column sets
   of all rows, in the order of their first row, into the table's columns
   (:func:`~dicomlab.rows.schema.merge_columns`, as the local export merges
   its chunks). It is a side input of the write, so every worker conforms its
   rows to the one final schema. A second read of the headers would double the
   requests to the store; the column sets are few (about one per series), so
   combining them is cheap and the headers are read once;
5. rows are written with that exact schema: to BigQuery through Beam's
   ``WriteToBigQuery`` (schema from :mod:`dicomlab.rows.bqschema`, write
   disposition honoured), or to Parquet files that
   :func:`~dicomlab.export.beamrun.export_with_beam` loads into the warehouse.

Failures are written as JSON lines beside the output and read back into the
:class:`~dicomlab.export.result.ExportResult`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from dicomlab.rows.schema import Column, merge_columns

__all__ = [
    "BeamPlan",
    "ReadHeaders",
    "UnionColumns",
    "WriteParquet",
    "bigquery_schema",
    "build_pipeline",
    "keep_first",
]

FAILED = "failed"
#: Rows handed to the sink, counted by Beam (its metrics reach the launcher on every runner).
ROWS = beam.metrics.Metrics.counter("dicomlab", "rows")


@dataclass(frozen=True)
class BeamPlan:
    """What one Beam export reads and where it writes.

    ``files`` are ``(index, source, path, size)`` in store order (``path`` a
    local path or a ``gs://`` URI). ``output`` is a folder (local or ``gs://``)
    for Parquet parts and the failures; ``bigquery_table`` (``PROJECT:DATASET.TABLE``)
    sends rows to BigQuery instead of Parquet.
    """

    files: list[tuple[int, str, str, int]]
    output: str
    bigquery_table: str | None = None
    write_disposition: str = "WRITE_EMPTY"
    anonymous: bool = False
    fail_on_unread: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ReadHeaders(beam.DoFn):  # type: ignore[misc]
    """``(index, source, path, size)`` -> ``(uid, (index, source, values, columns))``, or a failure.

    Failures go to the ``failed`` output as ``(source, reason, unread)``;
    ``fail_on_unread`` raises instead for a file that could not be read (a
    BigQuery write cannot be taken back, so the pipeline must fail before it).
    """

    def __init__(self, anonymous: bool = False, fail_on_unread: bool = False) -> None:
        self._anonymous = anonymous
        self._fail_on_unread = fail_on_unread
        self._client: Any = None

    def process(self, element: tuple[int, str, str, int]) -> Iterator[Any]:
        from dicomlab.export.chunks import Unread, _flatten_file, _flatten_item

        index, source, path, size = element
        if path.startswith("gs://"):
            flat = _flatten_item(self._read_object(source, path, size))
        else:
            flat = _flatten_file(path, source)
        if isinstance(flat, str):
            unread = isinstance(flat, Unread)
            if unread and self._fail_on_unread:
                raise OSError(f"{source} could not be read: {flat}")
            yield pvalue.TaggedOutput(FAILED, (source, str(flat), unread))
            return
        uid = str(flat.values.get("SOPInstanceUID"))
        yield uid, (index, source, flat.values, flat.columns)

    def _read_object(self, source: str, uri: str, size: int) -> Any:
        from dicomlab.core.resources import GcsUri
        from dicomlab.stores.gcsread import ObjectInfo, read_object_header, storage_client

        if self._client is None:
            self._client = storage_client(anonymous=self._anonymous)
        parsed = GcsUri.parse(uri)
        info = ObjectInfo(parsed.object_name, size)
        item, _ = read_object_header(self._client, parsed.bucket, info)
        return item


def keep_first(
    element: tuple[str, Iterable[tuple[int, str, dict[str, Any], dict[str, Column]]]],
) -> Iterator[Any]:
    """One row per SOPInstanceUID, the first in store order; the others are failures
    unless their values are the same (a copy: loaded once, as the local ledger does)."""
    uid, found = element
    first, *others = sorted(found, key=lambda row: row[0])
    yield first
    for _, source, values, _ in others:
        if values != first[2]:
            reason = (
                f"SOPInstanceUID {uid} is also that of {first[1]}, whose content differs: "
                "left out (the first file in store order is loaded); remove or fix one of them"
            )
            yield pvalue.TaggedOutput(FAILED, (source, reason, False))


class UnionColumns(beam.CombineFn):  # type: ignore[misc]
    """The table's columns: the distinct column sets, merged in the order of their first row."""

    def create_accumulator(self) -> dict[tuple[Any, ...], tuple[int, dict[str, Column]]]:
        return {}

    def add_input(self, accumulator: dict[Any, Any], row: Any) -> dict[Any, Any]:
        index, columns = row[0], row[3]
        key = tuple(columns.items())
        seen = accumulator.get(key)
        if seen is None or index < seen[0]:
            accumulator[key] = (index, columns)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[dict[Any, Any]]) -> dict[Any, Any]:
        merged: dict[Any, Any] = {}
        for accumulator in accumulators:
            for key, (index, columns) in accumulator.items():
                if key not in merged or index < merged[key][0]:
                    merged[key] = (index, columns)
        return merged

    def extract_output(self, accumulator: dict[Any, Any]) -> dict[str, Column]:
        ordered = sorted(accumulator.values(), key=lambda pair: pair[0])
        return merge_columns(columns for _, columns in ordered)


def conform_row(row: Any, columns: Mapping[str, Column]) -> dict[str, Any]:
    """A row's values fitted to the table's ``columns`` (as the local export's chunks are)."""
    from dicomlab.rows.schema import conform

    values, own = row[2], row[3]
    ROWS.inc()
    return {
        name: values.get(name)
        if own.get(name) == column
        else conform(values.get(name), own.get(name), column)
        for name, column in columns.items()
    }


class WriteParquet(beam.DoFn):  # type: ignore[misc]
    """A batch of conformed rows as one Parquet file under ``folder`` (local or ``gs://``)."""

    def __init__(self, folder: str) -> None:
        self._folder = folder.rstrip("/")

    def process(self, rows: list[dict[str, Any]], columns: Mapping[str, Column]) -> Iterator[str]:
        import pyarrow.parquet as pq
        from apache_beam.io.filesystems import FileSystems

        from dicomlab.rows.arrow import to_arrow_table

        path = f"{self._folder}/part-{uuid.uuid4().hex}.parquet"
        table = to_arrow_table(rows, columns)
        with FileSystems.create(path) as sink:
            pq.write_table(table, sink)
        yield path


def bigquery_schema(destination: Any, columns: Mapping[str, Column]) -> dict[str, Any]:
    """The schema for ``WriteToBigQuery``: the exact columns, from :mod:`dicomlab.rows.bqschema`."""
    from dicomlab.rows.bqschema import to_schema_fields

    return {"fields": [f.to_api_repr() for f in to_schema_fields(columns)]}


def to_json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A conformed row with JSON values, as BigQuery's file loads take them."""
    return json.loads(json.dumps(row, default=_json_value))  # type: ignore[no-any-return]


def _json_value(value: Any) -> Any:
    import base64

    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    raise TypeError(f"{type(value).__name__} is not a BigQuery value")


def build_pipeline(pipeline: beam.Pipeline, plan: BeamPlan) -> dict[str, Any]:
    """Add the export to ``pipeline``; returns its parts (``columns``, ``sink``, ``failures``)."""
    from apache_beam.io import WriteToText

    read = (
        pipeline
        | "List files" >> beam.Create(plan.files, reshuffle=True)
        | "Read headers"
        >> beam.ParDo(ReadHeaders(plan.anonymous, plan.fail_on_unread)).with_outputs(
            FAILED, main="rows"
        )
    )
    kept = (
        read.rows
        | "By SOPInstanceUID" >> beam.GroupByKey()
        | "One row per instance" >> beam.FlatMap(keep_first).with_outputs(FAILED, main="rows")
    )
    columns = kept.rows | "Union of columns" >> beam.CombineGlobally(UnionColumns())
    conformed = kept.rows | "Conform rows" >> beam.Map(
        conform_row, columns=pvalue.AsSingleton(columns)
    )
    failures = (read[FAILED], kept[FAILED]) | "Failures" >> beam.Flatten()
    _ = (
        failures
        | "Failures as JSON" >> beam.Map(json.dumps)
        | "Write failures" >> WriteToText(f"{plan.output.rstrip('/')}/failures", ".jsonl")
    )
    sink = _sink(plan, columns)
    written = conformed | "Write rows" >> sink
    return {"columns": columns, "sink": sink, "written": written, "failures": failures}


def _sink(plan: BeamPlan, columns: Any) -> Any:
    if plan.bigquery_table is None:
        folder = f"{plan.output.rstrip('/')}/rows"

        class Write(beam.PTransform):  # type: ignore[misc]
            def expand(self, rows: Any) -> Any:
                return (
                    rows
                    | beam.BatchElements(min_batch_size=500, max_batch_size=5000)
                    | beam.ParDo(WriteParquet(folder), pvalue.AsSingleton(columns))
                )

        return Write()
    from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery

    class WriteJson(beam.PTransform):  # type: ignore[misc]
        def __init__(self, write: Any) -> None:
            super().__init__()
            self.write = write

        def expand(self, rows: Any) -> Any:
            return rows | beam.Map(to_json_row) | self.write

    return WriteJson(
        WriteToBigQuery(
            plan.bigquery_table,
            schema=bigquery_schema,
            schema_side_inputs=(pvalue.AsSingleton(columns),),
            write_disposition=plan.write_disposition,
            create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
            method=WriteToBigQuery.Method.FILE_LOADS,
            custom_gcs_temp_location=plan.extra.get("gcs_temp_location"),
        )
    )
