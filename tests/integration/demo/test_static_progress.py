"""Progress bars in executed, exported notebooks show their final state, never 0 %.

A real kernel runs tqdm.auto (a notebook widget bar, as dicomlab's exports
draw it); the static HTML made from the run must show the finished bar.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from dicomlab.demo import WIDGET_STATE_MIMETYPE, static_outputs
from dicomlab.notebook.widgets import WIDGET_VIEW_MIMETYPE

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

CELL = """
from tqdm.auto import tqdm
for _ in tqdm(range(81), desc="Exporting metadata", unit="file"):
    pass
print("Exported 81 instances")
"""


def test_a_finished_bar_reads_as_finished_in_the_static_page():
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = new_notebook(cells=[new_code_cell(CELL)])
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True).execute()
    (bar, *_) = [o for o in nb.cells[0].outputs if WIDGET_VIEW_MIMETYPE in o.get("data", {})]
    assert "0%" in bar["data"]["text/plain"]  # what the output itself carries: the start
    assert WIDGET_STATE_MIMETYPE in nb.metadata["widgets"]

    static = static_outputs(nb)
    shown = [o["data"]["text/plain"] for o in static.cells[0].outputs if "data" in o]
    assert len(shown) == 1 and "Exporting metadata: 100%|██████████| 81/81" in shown[0]
    nbformat.validate(static)
    page, _ = HTMLExporter().from_notebook_node(static)
    body = page[page.index("<body") :]  # the page's CSS has keyframes at 0%
    assert "100%" in body and "  0%" not in body and "0/81" not in body


def test_a_bar_without_saved_state_is_left_as_it_was():
    nb = new_notebook(cells=[new_code_cell("x")])
    data = {WIDGET_VIEW_MIMETYPE: {"model_id": "gone"}, "text/plain": "x: 0%"}
    nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data=data)]
    assert static_outputs(nb).cells[0].outputs[0]["data"] == data
