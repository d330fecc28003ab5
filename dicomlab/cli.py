"""The ``dicomlab`` command line: the notebook's jobs from a shell or a scheduler.

Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error
(one line naming the bad value), 141 when the reader of the output went away
(``dicomlab query … | head -1``): the status of a command killed by SIGPIPE,
as ``cat`` or ``git log`` end in the same pipe, with nothing on stderr. An
output that cannot be written (a closed or full standard output) is a failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dicomlab import cli_output as output
from dicomlab.cli_parser import QUICKSTART_NOTEBOOK, build_parser
from dicomlab.core.decisions import latest_decisions, validate_review_name
from dicomlab.core.filterfile import UID_COLUMNS, FilterFile
from dicomlab.core.queries import QueryParameter, load_query
from dicomlab.errors import (
    AlreadyExistsError,
    DicomlabError,
    InvalidIdentifierError,
    NotFoundError,
    UnsupportedBackendError,
)
from dicomlab.lab import connect
from dicomlab.share import SHARE_ENV, parse_share

__all__ = ["main"]

# What the library's errors tell a Python caller to pass, as the command line spells it.
_CLI_HINTS = (
    (re.compile(r"\boverwrite=True"), "--overwrite"),
    (re.compile(r"\ballow_partial=True"), "--allow-partial"),
    (re.compile(r"\bwrite_disposition='(WRITE_\w+)'"), r"--write-disposition \1"),
    (re.compile(r"\bor 'WRITE_APPEND' to add"), "or WRITE_APPEND to add"),
    (re.compile(r"\blab\.export_metadata\(\)"), "dicomlab export-metadata"),
)


def _as_cli_hint(message: str) -> str:
    """``message`` with its advice in the command line's options (``--overwrite``)."""
    for pattern, replacement in _CLI_HINTS:
        message = pattern.sub(replacement, message)
    return message


def _params(name: str, pairs: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """``NAME=VALUE`` pairs, each converted from text by the query's declared type."""
    types = {p.name: p.type for p in load_query(name).parameters}
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--param {pair!r} is not NAME=VALUE")
        params[key] = _from_text(types.get(key, "STRING"), value, parser)
    missing = ", ".join(k for k in types if k not in params)
    unknown = ", ".join(k for k in params if k not in types)
    wrong = [f"{what}: {names}" for what, names in (("missing", missing), ("unknown", unknown))]
    wrong = [text for text in wrong if not text.endswith(": ")]
    if wrong:
        usage = " ".join(f"--param {k}={kind}" for k, kind in types.items()) or "no --param"
        parser.error(f"query {name!r} takes {usage} ({'; '.join(wrong)})")
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


def _sql_params(pairs: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """``NAME[:TYPE]=VALUE`` pairs for ad-hoc SQL (STRING when no type is given)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        name, _, kind = key.partition(":")
        if not sep or not name:
            parser.error(f"--param {pair!r} is not NAME[:TYPE]=VALUE")
        kind = kind.upper() or "STRING"
        value = _from_text(kind, text, parser)
        try:
            params[name] = QueryParameter(name, kind, "").coerce(value)
        except KeyError:
            parser.error(f"--param {pair!r}: {kind!r} is not a BigQuery type")
    return params


def _print_frame(frame: Any, fmt: str) -> None:
    if fmt == "json":
        output.say(frame.to_json(orient="records", date_format="iso", default_handler=str))
    elif fmt == "table":
        output.say(frame.to_string(index=False))
    else:
        output.write(frame.to_csv(index=False))


def _read_rows(path: Path) -> Any:
    """A CSV of UIDs, every column read as text (UIDs must not become numbers)."""
    import pandas as pd

    if not path.is_file():
        raise DicomlabError(f"--from {str(path)!r} does not exist or is not a file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError) as exc:
        raise DicomlabError(f"--from {str(path)!r} is not a readable CSV: {exc}") from exc


def _write_new(path: Path, data: bytes, overwrite: bool) -> None:
    """Write ``path``; an existing file is kept unless ``overwrite``."""
    try:
        with path.open("wb" if overwrite else "xb") as handle:
            handle.write(data)
    except FileExistsError as exc:
        raise AlreadyExistsError(f"{path} already exists; pass --overwrite to replace it") from exc


def _filter_build(args: argparse.Namespace) -> None:
    rows = _read_rows(args.source_csv)
    lab = _share_lab(args)
    if lab is not None:  # a filter file is read by an export: it must name the real instances
        rows = lab._real(rows)
    filter_file = FilterFile.from_dataframe(rows, args.level)
    if args.output == "-":
        output.write(filter_file.to_text())
        return
    _write_new(Path(args.output), filter_file.to_bytes(), args.overwrite)
    output.say(f"{args.output}: {len(filter_file)} lines ({filter_file.level} level)")


def _share_lab(args: argparse.Namespace) -> Any:
    """The Lab whose reverse map undoes pseudonyms, or ``None`` outside share mode."""
    share = _SHARE[args.share]
    if share is None:
        share = parse_share(os.environ.get(SHARE_ENV), from_env=True)
    if not share:
        return None
    return connect(args.store, args.warehouse, args.bucket, home=args.home, share=share)


def _upload(lab: Any, args: argparse.Namespace) -> None:
    if not args.file.is_file():
        raise DicomlabError(f"filter file {str(args.file)!r} does not exist")
    filter_file = FilterFile.parse(args.file.read_text(encoding="utf-8", errors="replace"))
    output.say(lab.upload(filter_file, args.name, overwrite=args.overwrite))


def _export_cohort(lab: Any, args: argparse.Namespace) -> None:
    done = lab.export_cohort(
        _read_rows(args.source_csv),
        args.destination,
        level=args.level,
        name=args.name,
        overwrite=args.overwrite,
        write_disposition=args.write_disposition,
    )
    output.say(json.dumps(done.provenance, indent=2, default=str))
    if not done.complete:  # the record is printed (and saved) either way; the status tells
        raise DicomlabError(
            f"the cohort export to {args.destination} is incomplete: "
            f"{done.counters['failure']} instance(s) "
            "failed (the record above lists errors); fix the cause and export again"
        )


def _images(lab: Any, args: argparse.Namespace) -> None:
    rows = _read_rows(args.source_csv)
    images = lab.store.fetch_thumbnails(rows, size=args.size, media_type=args.media_type)
    args.out.mkdir(parents=True, exist_ok=True)
    extension = "jpg" if args.media_type == "image/jpeg" else "png"
    column = next(c for c in reversed(UID_COLUMNS) if c in rows.columns)
    # Named as the Lab shows UIDs: in share mode a pseudonym, whichever kind the CSV holds.
    uids = lab.shown(lab._real(rows[[column]]))[column]
    for number, (image, uid) in enumerate(zip(images, uids, strict=True), start=1):
        _write_new(args.out / f"{number:04d}-{uid}.{extension}", image, args.overwrite)
    output.say(f"{len(images)} thumbnails in {args.out}")


def _review(lab: Any, args: argparse.Namespace) -> None:
    name = validate_review_name(args.name)
    latest = latest_decisions(lab.decision_log(args.table).history(name))
    if latest.empty:
        raise NotFoundError(
            f"review {name!r} has no decisions in table {args.table!r} of {lab.warehouse.url}: "
            "check the name (and --table, --warehouse)"
        )
    if args.action == "show":
        if args.format == "table":  # csv and json stay machine-readable: the rows alone
            counts = latest.value_counts(["decision", "reason"]).rename("items").reset_index()
            output.say(f"review {name}: {len(latest)} items decided")
            _print_frame(counts, "table")
        shown = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "decision", "reason",
                 "reviewer", "decided_at"]  # fmt: skip
        _print_frame(latest[shown], args.format)
        return
    if args.source_csv is not None:
        rows = lab.reviewed(_read_rows(args.source_csv), review=name, table=args.table)
    else:
        rows = latest[latest["decision"] == "include"]
        if rows.empty:
            raise NotFoundError(f"review {name!r} includes no item yet: nothing to export")
        if (rows["SOPInstanceUID"] == "").all():
            rows = rows.drop(columns="SOPInstanceUID")
    _refuse_bringing_back(rows, latest, args.level, name)
    # In share mode the decisions come back as pseudonyms; an export needs the real UIDs.
    filter_file = FilterFile.from_dataframe(lab._real(rows), args.level)
    if args.output == "-":
        output.write(filter_file.to_text())
    else:
        _write_new(Path(args.output), filter_file.to_bytes(), args.overwrite)
        output.say(f"{len(filter_file)} lines ({filter_file.level} level) in {args.output}")


def _refuse_bringing_back(rows: Any, latest: Any, level: str | None, name: str) -> None:
    """Refuse a ``--level`` so coarse that a line of the filter covers an excluded item."""
    if level is None:
        return
    depth = ("study", "series", "instance").index(level) + 1
    columns = list(UID_COLUMNS[:depth])
    excluded = latest[latest["decision"] == "exclude"]
    if excluded.empty or not set(columns) <= set(rows.columns):
        return
    kept = set(map(tuple, rows[columns].astype(str).to_numpy()))
    back = sum(key in kept for key in map(tuple, excluded[columns].astype(str).to_numpy()))
    if back:
        raise DicomlabError(
            f"--level {level} would bring back {back} item(s) review {name!r} excluded (a "
            f"{level} line covers them and included items alike): use the review's own level "
            "or leave --level out"
        )


def _audit(args: argparse.Namespace) -> None:
    """Say where the notebook shows identifiers (the values only with --show), and fail."""
    from dicomlab.audit import audit_notebook

    findings = audit_notebook(
        args.notebook, home=args.home, warehouse=args.warehouse, table=args.table
    )
    if not findings:
        output.say(f"{args.notebook}: no identifier of table {args.table!r} in its outputs")
        return
    for line in dict.fromkeys(str(f) if args.show else f.where + f.note for f in findings):
        output.say(line)
    if all(f.shifted for f in findings):
        raise DicomlabError(
            f"{args.notebook} shows {len(findings)} real date(s) of table {args.table!r}, each "
            "also a date share mode shows in place of another: if the notebook ran in share "
            "mode, look at those outputs (--show prints the values); a shifted date there is "
            "no leak"
        )
    raise DicomlabError(
        f"{args.notebook} shows {len(findings)} identifier(s) of table {args.table!r}: run it "
        "again in share mode (DICOMLAB_SHARE=1) before sharing it"
    )


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.command == "demo":
        # The demo loads the widgets (pydicom, Pillow): not for every command.
        from dicomlab.demo import run_demo

        notebook = args.notebook if str(args.notebook) not in ("", ".") else None
        if args.notebook is None:  # not asked for: rendered when this is a checkout
            notebook = QUICKSTART_NOTEBOOK if QUICKSTART_NOTEBOOK.is_file() else None
            if notebook is None:
                output.say(f"No {QUICKSTART_NOTEBOOK} here: no quickstart.html (--notebook PATH)")
        if notebook is not None and not notebook.is_file():
            parser.error(f"notebook {str(notebook)!r} does not exist")
        run_demo(args.out, home=args.home, notebook=notebook, say=output.say)
        return
    if args.command == "filter":
        _filter_build(args)
        return
    if args.command == "audit":
        _audit(args)
        return
    try:
        lab = connect(
            args.store, args.warehouse, args.bucket, home=args.home, share=_SHARE[args.share]
        )
    except (UnsupportedBackendError, InvalidIdentifierError) as exc:
        parser.error(str(exc))  # a --store, --warehouse or --bucket value of no known form
    if args.command == "export-metadata":
        output.say(
            lab.export_metadata(
                args.table,
                args.write_disposition,
                workers=args.workers,
                allow_partial=args.allow_partial,
                engine=args.engine,
                runner=args.runner,
                pipeline_options=args.beam_options or None,
            )
        )
    elif args.command == "query":
        params = _params(args.name, args.param, parser)
        _print_frame(
            lab.query(args.name, table=args.table, source=args.source, **params), args.format
        )
    elif args.command == "sql":
        _print_frame(
            lab.sql(args.text, table=args.table, **_sql_params(args.param, parser)), args.format
        )
    elif args.command == "queries":
        output.say(lab.queries().to_string(index=False))
    else:
        commands = {"upload": _upload, "export-cohort": _export_cohort, "images": _images}
        commands["review"] = _review
        commands[args.command](lab, args)


# --share's words as connect() takes them (None: $DICOMLAB_SHARE decides).
_SHARE: dict[str | None, bool | str | None] = {
    None: None,
    "on": True,
    "off": False,
    "images": "images",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        output.check_output()
        _run(args, parser)
        output.flush()
    except output.ReaderGone:
        output.discard_output()  # quiet, as any command whose reader left
        return output.EXIT_READER_GONE
    except output.OutputError as exc:
        output.discard_output()
        output.fail(f"{exc}; the results could not be shown: send them to a file or a pipe")
        return 1
    except (DicomlabError, OSError) as exc:
        output.fail(_as_cli_hint(str(exc)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
