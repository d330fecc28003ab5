"""The whole flow on the embedded default, writing its results to a folder.

Run it with ``python -m dicomlab demo`` (``make demo``).
"""

from __future__ import annotations

import copy
import html
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dicomlab.core.filterfile import FilterFile
from dicomlab.lab import Lab, connect
from dicomlab.notebook.widgets import WIDGET_VIEW_MIMETYPE

__all__ = ["DEMO_PATIENT", "progress_text", "run_demo", "static_outputs"]

logger = logging.getLogger(__name__)
DEMO_PATIENT = "77654033"
WIDGET_STATE_MIMETYPE = "application/vnd.jupyter.widget-state+json"
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
    keep the HTML so the page still shows the images. A progress bar (tqdm's
    notebook widget) carries only the text it showed when it started, ``0%``:
    it becomes the text of its final state, read from the widget state the
    run saved (nbclient saves it by default).
    """
    nb = copy.deepcopy(nb)
    widgets = nb.metadata.pop("widgets", None) or {}
    state = widgets.get(WIDGET_STATE_MIMETYPE, {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW_MIMETYPE not in data:
                continue
            if "text/html" in data:
                del data[WIDGET_VIEW_MIMETYPE]
                continue
            final = progress_text(state, data[WIDGET_VIEW_MIMETYPE].get("model_id", ""))
            if final is not None:
                del data[WIDGET_VIEW_MIMETYPE]
                data["text/plain"] = final
    return nb


def progress_text(state: dict[str, Any], model_id: str) -> str | None:
    """The text of a tqdm notebook bar in saved widget state, or ``None`` if it is not one.

    tqdm draws ``HBox([HTML(description and percent), FloatProgress, HTML(counts)])``.

    >>> html = {"model_name": "HTMLModel"}
    >>> state = {"box": {"model_name": "HBoxModel", "state": {"children": [
    ...     "IPY_MODEL_l", "IPY_MODEL_b", "IPY_MODEL_r"]}},
    ...     "l": {**html, "state": {"value": "Export: 100%"}},
    ...     "b": {"model_name": "FloatProgressModel", "state": {"value": 8.0, "max": 8.0}},
    ...     "r": {**html, "state": {"value": " 8/8 [00:01&lt;00:00]"}}}
    >>> progress_text(state, "box")
    'Export: 100%|██████████| 8/8 [00:01<00:00]'
    """
    box = state.get(model_id, {})
    if box.get("model_name") != "HBoxModel":
        return None
    children = [state.get(str(c).removeprefix("IPY_MODEL_"), {}) for c in box["state"]["children"]]
    names = [child.get("model_name") for child in children]
    if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (child.get("state", {}) for child in children)
    total, value = float(bar.get("max") or 0), float(bar.get("value") or 0)
    filled = round(10 * value / total) if total > 0 else 0
    text = f"{html.unescape(str(left.get('value', '')))}|{'█' * filled}{' ' * (10 - filled)}|"
    text += html.unescape(str(right.get("value", "")))
    return text.replace("\u2007", " ")  # tqdm pads with figure spaces


def _notebook(source: Path, target: Path, lab: Lab) -> Path:
    """Execute the quickstart notebook on the same data folder and render it to HTML."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    home = Path(lab.warehouse.url.removeprefix("duckdb:///")).parent
    os.environ["DICOMLAB_HOME"] = str(home)
    nb = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(  # the widget state is saved, so bars keep their final state
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
        store_widget_state=True,
    ).execute()
    nbformat.write(nb, target.with_suffix(".ipynb"))  # type: ignore[no-untyped-call]
    body, _ = HTMLExporter().from_notebook_node(static_outputs(nb))  # type: ignore[no-untyped-call]
    target.write_text(body, encoding="utf-8")
    return target
