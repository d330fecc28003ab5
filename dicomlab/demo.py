"""The whole flow on the embedded default, writing its results to a folder.

Run it with ``python -m dicomlab demo`` (``make demo``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dicomlab.filterfile import FilterFile
from dicomlab.lab import Lab, connect
from dicomlab.widgets import WIDGET_VIEW_MIMETYPE

__all__ = ["DEMO_PATIENT", "run_demo"]

logger = logging.getLogger(__name__)
DEMO_PATIENT = "77654033"
SERIES_SQL = """
SELECT StudyInstanceUID, SeriesInstanceUID, MIN(PatientID) AS PatientID,
       MIN(StudyDate) AS StudyDate, MIN(Modality) AS Modality,
       MIN(SeriesDescription) AS SeriesDescription
FROM dicom_metadata
GROUP BY StudyInstanceUID, SeriesInstanceUID
ORDER BY PatientID, StudyInstanceUID, SeriesInstanceUID
"""


def run_demo(
    out: Path,
    *,
    home: Path | None = None,
    notebook: Path | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Run the quickstart flow and write every result under ``out``.

    Returns the paths written, by name.
    """
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    lab = connect(home=home)
    say(f"Lab: {lab}")
    result = lab.export_metadata(write_disposition="WRITE_TRUNCATE")
    say(f"Exported: {result}")
    written: dict[str, Path] = {}

    worklist = lab.query("latest_studies", limit=20)
    written["worklist"] = _csv(worklist, out / "worklist.csv")
    say(f"Worklist: {len(worklist)} studies, {int(worklist['InstanceCount'].sum())} instances")

    paths = lab.query("patient_dicomweb_paths", patient_id=DEMO_PATIENT)
    written["patient_paths"] = _csv(paths, out / "patient_paths.csv")
    say(f"Patient {DEMO_PATIENT}: {len(paths)} instances")

    cohort = FilterFile.from_dataframe(paths, level="series")
    written["cohort"] = out / "cohort.txt"
    written["cohort"].write_text(cohort.to_text())
    say(f"Filter file: {cohort!r}; uploaded to {lab.upload(cohort, 'cohort.txt', overwrite=True)}")

    written["thumbnails"] = _thumbnails(lab, out / "thumbnails")
    if notebook is not None:
        written["quickstart"] = _notebook(notebook, out / "quickstart.html", lab)
    for name, path in written.items():
        say(f"  {name:14} {path}")
    return written


def _csv(df: object, path: Path) -> Path:
    df.to_csv(path, index=False)  # type: ignore[attr-defined]
    return path


def _thumbnails(lab: Lab, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    series = lab.sql(SERIES_SQL)
    grid = lab.images(series, size=128, media_type="image/png")
    for number, tile in enumerate(grid.tiles, start=1):
        if tile.image is not None:
            name = f"{number:02d}_{tile.uids[1].rsplit('.', 1)[-1]}.png"
            (folder / name).write_bytes(tile.image)
        else:
            logger.info("no thumbnail for series %s: %s", tile.uids[1], tile.error)
    return folder


def static_outputs(nb: Any) -> Any:
    """A copy of ``nb`` whose outputs show their static HTML instead of live widgets.

    A static HTML page has no kernel and, offline, no widget JavaScript: where an
    output carries both a widget view and ``text/html`` (as ``lab.images`` does),
    keep the HTML so the page still shows the images.
    """
    import copy

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW_MIMETYPE in data and "text/html" in data:
                del data[WIDGET_VIEW_MIMETYPE]
    return nb


def _notebook(source: Path, target: Path, lab: Lab) -> Path:
    """Execute the quickstart notebook on the same data folder and render it to HTML."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    home = Path(lab.warehouse.url.removeprefix("duckdb:///")).parent
    os.environ["DICOMLAB_HOME"] = str(home)
    nb = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(source.parent)}}
    ).execute()
    nbformat.write(nb, target.with_suffix(".ipynb"))  # type: ignore[no-untyped-call]
    body, _ = HTMLExporter().from_notebook_node(static_outputs(nb))  # type: ignore[no-untyped-call]
    target.write_text(body, encoding="utf-8")
    return target
