"""Audit a saved notebook: does any output or widget state show an identifier?

The identifiers are those of the metadata table (PatientIDs, person and
institution names, accession numbers and other IDs, identifying UIDs, and the
dates, as ``YYYYMMDD`` and ``YYYY-MM-DD``), chosen by
:mod:`dicomlab.core.deid`. Code cells' sources are not scanned (they are the
author's text); their outputs and the saved widget state are. Values shorter
than four characters (an AccessionNumber ``"2"``, a sex ``"M"``) are not
searched for: they would match everywhere.

Share mode moves each patient's dates back by days of their own, so a date it
shows can fall on a real date of the table. When the data folder has a share
key, a finding whose value is also such a shown date is marked ``shifted``: it
may be no leak, and only its cell can tell.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dicomlab.backends import check_home, check_specs, open_warehouse
from dicomlab.core.deid import Pseudonymizer, action_for, patient_lookup, token_pattern
from dicomlab.errors import DicomlabError, LocalFileError
from dicomlab.lab import DEFAULT_TABLE
from dicomlab.samples.sample import default_home
from dicomlab.share import read_census
from dicomlab.share.files import read_key

__all__ = ["Finding", "audit_notebook", "notebook_texts", "shown_dates", "table_identifiers"]
_MIN_LENGTH = 4


@dataclass(frozen=True)
class Finding:
    """One identifier seen in a notebook: where (``cell 3 output 0``) and which value.

    ``shifted`` is true when the value, a real date of the table, is also a date share
    mode shows in place of another (a patient's date moved back): it may be no leak.

    >>> str(Finding("cell 2 output 0", "1995-09-03", shifted=True))
    'cell 2 output 0: 1995-09-03 (also a date share mode shows in place of another)'
    """

    where: str
    value: str
    shifted: bool = False

    @property
    def note(self) -> str:
        """What to add after the finding's place: the mark of a shifted one, else nothing."""
        return " (also a date share mode shows in place of another)" if self.shifted else ""

    def __str__(self) -> str:
        return f"{self.where}: {self.value}{self.note}"


def table_identifiers(rows: Iterable[Mapping[Any, Any]]) -> set[str]:
    """The identifying values of metadata rows, as text that could appear in an output.

    >>> sorted(table_identifiers([{"PatientID": "77654033", "Modality": "CT", "StudyID": "2"}]))
    ['77654033']
    """
    found: set[str] = set()
    for row in rows:
        for key, value in row.items():
            if action_for(str(key)) in ("uid", "id", "name", "date"):
                found.update(_texts(value))
    return {v for v in found if len(v) >= _MIN_LENGTH}


def shown_dates(rows: Iterable[Mapping[Any, Any]], pseudo: Pseudonymizer) -> set[str]:
    """The dates share mode shows for metadata rows under ``pseudo``'s key, as text.

    Each patient's dates move back by the same number of days, so a shown date can
    fall on a real one: :func:`audit_notebook` marks such a finding ``shifted``.

    >>> import datetime as dt
    >>> from dicomlab.core.deid import Pseudonymizer
    >>> pseudo = Pseudonymizer(b"secret-key-of-the-lab-owner-0001")
    >>> row = {"PatientID": "77654033", "StudyDate": dt.date(2001, 1, 1)}
    >>> moved = row["StudyDate"] - dt.timedelta(days=pseudo.offset("77654033"))
    >>> shown_dates([row], pseudo) == {moved.isoformat(), moved.strftime("%Y%m%d")}
    True
    """
    records = [{str(k): v for k, v in row.items()} for row in rows]
    patient = patient_lookup(records)
    found: set[str] = set()
    seen: set[Any] = set()  # a series repeats its dates on every row: each moved once
    for row in records:
        owner = patient(row)
        for key, value in row.items():
            if action_for(key) != "date":
                continue
            try:
                if (value, owner) in seen:
                    continue
                seen.add((value, owner))
            except TypeError:  # a list or struct of dates: not hashable, moved every time
                pass
            found.update(_texts(pseudo.value(key, value, owner)))
    return found


def _texts(value: Any) -> Iterator[str]:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif hasattr(value, "strftime"):
        if str(value) not in ("NaT", "nan"):
            yield value.strftime("%Y%m%d")
            yield value.strftime("%Y-%m-%d")
    elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        for item in items if isinstance(items, list) else [items]:
            yield from _texts(item)
    elif str(value) not in ("nan", "<NA>", "None", ""):
        yield str(value)


def notebook_texts(notebook: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(where, text)`` of every output of every cell, and of the saved widget state."""
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        for index, out in enumerate(cell.get("outputs", [])):
            yield f"cell {number} output {index}", json.dumps(out, ensure_ascii=False)
    widgets = notebook.get("metadata", {}).get("widgets")
    if widgets:
        yield "widget state", json.dumps(widgets, ensure_ascii=False)


def scan(
    notebook: dict[str, Any], identifiers: Iterable[str], shifted: Iterable[str] = ()
) -> list[Finding]:
    """The identifiers ``notebook``'s outputs and widget state show, one finding per place.

    A value also in ``shifted`` (dates share mode shows) is found all the same, marked.
    """
    pattern = token_pattern(identifiers)
    if pattern is None:
        return []
    ambiguous = set(shifted)
    findings = []
    for where, text in notebook_texts(notebook):
        for value in dict.fromkeys(pattern.findall(text)):
            findings.append(Finding(where, value, shifted=value in ambiguous))
    return findings


def _is_notebook(notebook: Any) -> bool:
    """Whether ``notebook`` has the shape scanned: a clean audit of anything else proves nothing."""
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return False
    cells = notebook["cells"]
    return all(isinstance(c, dict) and isinstance(c.get("outputs", []), list) for c in cells)


def audit_notebook(
    path: str | os.PathLike[str],
    *,
    home: str | os.PathLike[str] | None = None,
    warehouse: Any = None,
    table: str = DEFAULT_TABLE,
) -> list[Finding]:
    """Scan a saved notebook for identifiers of the metadata table; ``[]`` when it is clean.

    The table is read from the warehouse ``connect(home=home, warehouse=warehouse)``
    would open, which must exist already (nothing is created). Findings name the
    value found: print them only where the real identifiers may be seen.

    >>> import dicomlab, nbformat
    >>> _ = lab.sql("SELECT 1 AS n")      # the sample lab, metadata exported
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
    ...     nbformat.v4.new_output("stream", text="patient 77654033")])])
    >>> nbformat.write(nb, "shown.ipynb")
    >>> [str(f) for f in dicomlab.audit_notebook("shown.ipynb", warehouse=lab.warehouse.url)]
    ['cell 1 output 0: 77654033']
    """
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LocalFileError(
            f"cannot read notebook {str(path)!r}: {exc}; give the path of a saved .ipynb file"
        ) from exc
    if not _is_notebook(notebook):
        raise LocalFileError(
            f"{str(path)!r} is JSON but not a notebook (no list of cells with lists of outputs): "
            "give the path of a saved .ipynb file"
        )
    # Only the warehouse is opened, and a DuckDB file must be there already: the audit
    # reads, and opening a mistyped path would create an empty warehouse (and the store).
    check_specs(None, warehouse, None)
    folder = check_home(home) if home is not None else default_home()
    opened = open_warehouse(warehouse, folder)
    database = getattr(opened, "path", None)  # a DuckDB warehouse's file
    if isinstance(database, str) and database != ":memory:" and not Path(database).is_file():
        raise LocalFileError(
            f"warehouse {opened.url} does not exist: the audit compares the notebook with its "
            "metadata table; give the data folder or warehouse the notebook ran on"
        )
    census = read_census(opened, table)
    if census is None:
        raise DicomlabError(
            f"table {table!r} of {opened.url} does not exist: the audit compares the "
            "notebook with the metadata table; run lab.export_metadata() first"
        )
    rows = census.to_dict("records")
    # Share mode's key is only read, never made: a folder that never ran it has no
    # shown dates, and the audit must not leave a key behind.
    key = folder / "share" / "key"
    shifted = shown_dates(rows, Pseudonymizer(read_key(key))) if key.is_file() else set()
    return scan(notebook, table_identifiers(rows), shifted)
