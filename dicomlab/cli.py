"""The ``dicomlab`` command line: the notebook's jobs from a shell or a scheduler.

Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dicomlab.errors import DicomlabError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicomlab", description="DICOM stores, metadata tables and cohorts from the shell."
    )
    parser.add_argument(
        "--home", type=Path, help="data folder (default: $DICOMLAB_HOME or ./dicomlab-data)"
    )
    parser.add_argument(
        "--store", help="DICOM store: a folder of DICOM files (default: the sample cohort)"
    )
    parser.add_argument(
        "--warehouse", help="warehouse: duckdb:///PATH (default: HOME/warehouse.duckdb)"
    )
    parser.add_argument("--bucket", help="bucket: a local folder (default: HOME/bucket)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run the whole flow on the embedded default")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    demo.add_argument(
        "--notebook",
        type=Path,
        default=Path("notebooks/01_quickstart.ipynb"),
        help="notebook to execute and render to HTML ('' to skip)",
    )

    export = commands.add_parser("export-metadata", help="export the store's metadata into a table")
    export.add_argument("--table", default="dicom_metadata")
    export.add_argument(
        "--write-disposition",
        default="WRITE_EMPTY",
        choices=("WRITE_EMPTY", "WRITE_TRUNCATE", "WRITE_APPEND"),
    )
    export.add_argument(
        "--workers", type=int, default=None, help="processes reading files (default: one per CPU)"
    )

    query = commands.add_parser("query", help="run a canned query and print CSV")
    query.add_argument("name", help="query name (see 'dicomlab queries')")
    query.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="query parameter (repeatable)",
    )
    query.add_argument("--table", default="dicom_metadata")

    commands.add_parser("queries", help="list the canned queries and their parameters")
    return parser


def _params(name: str, pairs: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """``NAME=VALUE`` pairs, each converted from text by the query's declared type."""
    from dicomlab.queries import load_query

    types = {p.name: p.type for p in load_query(name).parameters}
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--param {pair!r} is not NAME=VALUE")
        params[key] = _from_text(types.get(key, "STRING"), value, parser)
    return params


def _from_text(kind: str, text: str, parser: argparse.ArgumentParser) -> object:
    if kind.startswith("ARRAY<"):
        item = kind[len("ARRAY<") : -1]
        return [_from_text(item, part, parser) for part in text.split(",") if part]
    try:
        if kind == "INT64":
            return int(text)
        if kind == "FLOAT64":
            return float(text)
    except ValueError:
        parser.error(f"{text!r} is not a valid {kind}")
    if kind == "BOOL":
        if text.lower() not in ("true", "false"):
            parser.error(f"{text!r} is not true or false")
        return text.lower() == "true"
    return text  # STRING, DATE, TIME…: the query checks the text form


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from dicomlab.lab import connect

    if args.command == "demo":
        from dicomlab.demo import run_demo

        notebook = args.notebook if str(args.notebook) not in ("", ".") else None
        if notebook is not None and not notebook.is_file():
            parser.error(f"notebook {str(notebook)!r} does not exist")
        run_demo(args.out, home=args.home, notebook=notebook)
        return
    lab = connect(args.store, args.warehouse, args.bucket, home=args.home)
    if args.command == "export-metadata":
        print(lab.export_metadata(args.table, args.write_disposition, workers=args.workers))
    elif args.command == "query":
        params = _params(args.name, args.param, parser)
        lab.query(args.name, table=args.table, **params).to_csv(sys.stdout, index=False)
    elif args.command == "queries":
        print(lab.queries().to_string(index=False))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        _run(args, parser)
    except DicomlabError as exc:
        print(f"dicomlab: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
