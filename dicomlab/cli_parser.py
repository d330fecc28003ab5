"""The ``dicomlab`` command line's arguments: every subcommand, option and check.

:func:`build_parser` gives the parser :func:`dicomlab.cli.main` runs; a bad
value is a usage error (status 2) that names it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from dicomlab.core.queries import list_queries
from dicomlab.core.resources import validate_object_name, validate_table_name
from dicomlab.redaction import redact_url

__all__ = ["QUICKSTART_NOTEBOOK", "build_parser"]

# What `dicomlab demo` renders by default, relative to where it runs (the repository's root).
QUICKSTART_NOTEBOOK = Path("notebooks/01_quickstart.ipynb")


ENV_DEFAULTS = {
    "store": "DICOMLAB_STORE",
    "warehouse": "DICOMLAB_WAREHOUSE",
    "bucket": "DICOMLAB_BUCKET",
}
FORMATS = ("csv", "json", "table")


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (and URLs in them redacted)."""

    def error(self, message: str) -> NoReturn:
        text = redact_url(" ".join(message.split()))
        self.exit(2, f"{self.prog}: error: {text}; see '{self.prog} --help'\n")


def _checked(check: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    """An argparse ``type`` that runs ``check`` and turns its error into a usage error."""

    def convert(text: str) -> Any:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = what  # argparse names the type in some messages
    return convert


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(f"{text!r} is not a positive whole number")
    return number


def _table_name(text: str) -> str:
    return validate_table_name(text)


def _object_name(text: str) -> str:
    return validate_object_name(text)


def _query_name(text: str) -> str:
    known = list_queries()
    if text not in known:
        raise ValueError(f"{text!r} is not a canned query; known: {', '.join(known)}")
    return text


POSITIVE = _checked(_positive_int, "positive whole number")
TABLE = _checked(_table_name, "table name")
OBJECT = _checked(_object_name, "object name")
QUERY = _checked(_query_name, "query name")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dicomlab",
        description="DICOM stores, metadata tables and cohorts from the shell.",
        epilog="--store, --warehouse and --bucket default to $DICOMLAB_STORE, "
        "$DICOMLAB_WAREHOUSE and $DICOMLAB_BUCKET. Exit codes: 0 success, "
        "1 failure (one line on stderr), 2 usage error, 141 when the reader of "
        "the output went away (| head).",
    )
    parser.add_argument(
        "--home",
        type=Path,
        help="data folder (default: $DICOMLAB_HOME or the per-user data folder)",
    )
    parser.add_argument(
        "--store",
        default=os.environ.get(ENV_DEFAULTS["store"]),
        help="DICOM store: a folder, a DICOMweb URL, projects/P/locations/L/datasets/D/"
        "dicomStores/S, or DICOM files in gs://BUCKET[/PREFIX] (default: the sample cohort)",
    )
    parser.add_argument(
        "--warehouse",
        default=os.environ.get(ENV_DEFAULTS["warehouse"]),
        help="warehouse: duckdb:///PATH or bq://PROJECT.DATASET (default: HOME/warehouse.duckdb)",
    )
    parser.add_argument(
        "--bucket",
        default=os.environ.get(ENV_DEFAULTS["bucket"]),
        help="bucket: a local folder or gs://BUCKET[/PREFIX] (default: HOME/bucket)",
    )
    parser.add_argument(
        "--share",
        choices=("on", "images", "off"),
        help="share mode: print pseudonyms, never identifiers ('images' also saves images that "
        "may carry burned-in text; default: $DICOMLAB_SHARE)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _demo_parser(commands)
    _export_parser(commands)
    _query_parsers(commands)
    _cohort_parsers(commands)
    _review_parsers(commands)
    audit = commands.add_parser(
        "audit", help="exit 1 when a saved notebook's outputs show an identifier of the table"
    )
    audit.add_argument("notebook", type=Path, help="the saved .ipynb file")
    audit.add_argument("--table", default="dicom_metadata", help="the metadata table")
    audit.add_argument(
        "--show", action="store_true", help="print the identifiers found (not only where)"
    )
    return parser


def _review_parsers(commands: Any) -> None:
    review = commands.add_parser("review", help="review decisions kept in the warehouse")
    actions = review.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show", help="the latest decision per item (with --format table, the counts first)"
    )
    export = actions.add_parser("export", help="a filter file of what a review kept")
    for action in (show, export):
        action.add_argument("name", help="the review's name (as in lab.review(..., name=))")
        action.add_argument("--table", default="review_decisions", help="the decisions table")
    show.add_argument("--format", choices=("table", "csv", "json"), default="table")
    export.add_argument(
        "--from", dest="source_csv", type=Path,
        help="CSV of the reviewed hits: keep its rows not excluded (default: the included items)",
    )  # fmt: skip
    export.add_argument("--level", choices=("study", "series", "instance"))
    export.add_argument("-o", "--output", required=True, help="file to write ('-': stdout)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")


def _demo_parser(commands: Any) -> None:
    demo = commands.add_parser("demo", help="run the whole flow on the embedded default")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    demo.add_argument(
        "--notebook",
        type=Path,
        help="notebook to execute and render to HTML ('' to skip; default: "
        f"{QUICKSTART_NOTEBOOK} when there is one in the current folder)",
    )


def _export_parser(commands: Any) -> None:
    export = commands.add_parser("export-metadata", help="export the store's metadata into a table")
    export.add_argument("--table", type=TABLE, default="dicom_metadata")
    _write_disposition(export)
    export.add_argument(
        "--workers",
        type=POSITIVE,
        default=None,
        help="processes reading files (default: one per CPU)",
    )
    export.add_argument(
        "--allow-partial",
        action="store_true",
        help="when the store cannot be read for some instances, export the rest "
        "(default: fail and leave the table as it was)",
    )
    export.add_argument(
        "--engine",
        choices=("local", "beam"),
        default="local",
        help="local: this machine; beam: an Apache Beam pipeline (pip install 'dicomlab[beam]')",
    )
    export.add_argument("--runner", default=None, help="Beam runner (default DirectRunner)")
    export.add_argument(
        "beam_options",
        nargs="*",
        metavar="BEAM_OPTION",
        help="after --: Beam pipeline options, e.g. -- --project=P --region=R "
        "--temp_location=gs://B/tmp",
    )


def _write_disposition(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write-disposition",
        default="WRITE_EMPTY",
        choices=("WRITE_EMPTY", "WRITE_TRUNCATE", "WRITE_APPEND"),
    )


def _query_parsers(commands: Any) -> None:
    query = commands.add_parser("query", help="run a canned query")
    query.add_argument("name", type=QUERY, help="query name (see 'dicomlab queries')")
    _param_option(query, "query parameter NAME=VALUE, converted by its declared type")
    query.add_argument("--table", type=TABLE, default="dicom_metadata")
    query.add_argument(
        "--source", type=QUERY, help="read another canned query's rows, e.g. current_state"
    )
    query.add_argument("--format", choices=FORMATS, default="csv", help="output format")

    sql = commands.add_parser("sql", help="run your own BigQuery SQL against dicom_metadata")
    sql.add_argument("text", help="the SQL, with @name parameters")
    _param_option(
        sql,
        "parameter NAME[:TYPE]=VALUE (TYPE: STRING (default), INT64, FLOAT64, "
        "BOOL, DATE, ARRAY<STRING>…)",
    )
    sql.add_argument("--table", type=TABLE, default="dicom_metadata")
    sql.add_argument("--format", choices=FORMATS, default="csv", help="output format")

    commands.add_parser("queries", help="list the canned queries and their parameters")


def _param_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help=text)


def _cohort_parsers(commands: Any) -> None:
    filters = commands.add_parser("filter", help="filter files")
    actions = filters.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build a filter file from a CSV of UIDs")
    _from_option(build)
    build.add_argument("--level", choices=("study", "series", "instance"))
    build.add_argument("-o", "--output", required=True, help="file to write ('-': stdout)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing file")

    upload = commands.add_parser("upload", help="upload a filter file to the bucket")
    upload.add_argument("file", type=Path, help="the filter file")
    upload.add_argument(
        "--name", type=OBJECT, help="object name (default: derived from the content)"
    )
    upload.add_argument("--overwrite", action="store_true", help="replace an existing object")

    cohort = commands.add_parser(
        "export-cohort", help="export exactly the cohort a CSV of UIDs names (prints provenance)"
    )
    _from_option(cohort)
    cohort.add_argument(
        "--destination", required=True, help="bq://P.D.T, gs://B/PREFIX, a table name or a folder"
    )
    cohort.add_argument("--level", choices=("study", "series", "instance"))
    cohort.add_argument("--name", type=OBJECT, help="the filter file's object name")
    cohort.add_argument("--overwrite", action="store_true")
    _write_disposition(cohort)

    images = commands.add_parser("images", help="save thumbnails of a CSV's rows into a folder")
    _from_option(images)
    images.add_argument("--out", type=Path, required=True, help="output folder")
    images.add_argument("--size", type=POSITIVE, default=256, help="pixels (default: 256)")
    images.add_argument("--media-type", choices=("image/jpeg", "image/png"), default="image/jpeg")
    images.add_argument("--overwrite", action="store_true", help="replace existing files")


def _from_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="source_csv",
        type=Path,
        required=True,
        help="CSV with StudyInstanceUID[, SeriesInstanceUID, SOPInstanceUID] columns "
        "(e.g. the output of 'dicomlab query')",
    )
