"""A token in the session never shows: not in reprs, logs, errors or executed-notebook outputs.

The quickstart flow runs against the real Orthanc with ``Authorization: Bearer
<token>`` on every request (Orthanc ignores it), in this process and in an
executed notebook; everything a user could see is scanned for the token.
"""

from __future__ import annotations

import logging

import nbformat
import pytest
import requests
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import dicomlab
from dicomlab.errors import DicomlabError
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.dicomweb import DICOMwebStore
from tests.integration.orthanc import OrthancServer

TOKEN = "ya29.SECRET-never-to-be-seen-0123456789"


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


def test_the_quickstart_flow_never_shows_the_token(
    orthanc: OrthancServer, sample_files, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    store = DICOMwebStore(orthanc.dicomweb_url, session=_session())
    store.store_files(sample_files)
    lab = dicomlab.connect(store=store, home=tmp_path)
    seen: list[str] = [repr(lab), lab._repr_html_(), repr(store)]
    result = lab.export_metadata(progress=False, workers=1)
    seen += [repr(result), result._repr_html_()]
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    seen += [hits.to_string(), repr(hits.attrs)]
    grid = lab.images(hits, size=32, progress=False)
    seen += [repr(grid), grid.to_html()]
    done = lab.export_cohort(hits, "cohort", progress=False)
    seen += [repr(done), done._repr_html_(), str(done.provenance)]
    for failing in (
        lambda: store.fetch_instance(InstanceRef("1.2", "1.2.3", "1.2.3.4")),
        lambda: DICOMwebStore(
            "http://127.0.0.1:9/dicom-web", session=_session(), max_attempts=1, timeout=(1, 1)
        ).search_studies(),
    ):
        with pytest.raises(DicomlabError) as info:
            failing()
        seen += [str(info.value), repr(info.value)]
    assert caplog.records, "the flow should have logged something to scan"
    seen.append(caplog.text)
    leaks = [text[:200] for text in seen if TOKEN in text or TOKEN[:20] in text]
    assert not leaks


def test_an_executed_notebook_never_shows_the_token(orthanc: OrthancServer, tmp_path, monkeypatch):
    monkeypatch.setenv("DICOMLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DICOMLAB_TEST_TOKEN", TOKEN)
    cells = [
        "import logging, os, requests, dicomlab\n"
        "from dicomlab.stores.dicomweb import DICOMwebStore\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "session = requests.Session()\n"
        "session.headers['Authorization'] = 'Bearer ' + os.environ['DICOMLAB_TEST_TOKEN']\n"
        f"store = DICOMwebStore({orthanc.dicomweb_url!r}, session=session)\n"
        "lab = dicomlab.connect(store=store)\nlab",
        "result = lab.export_metadata(progress=False, workers=1)\nresult",
        "hits = lab.query('patient_dicomweb_paths', patient_id='77654033')\nhits",
        "lab.images(hits, size=32)",
        "store.fetch_instance(dicomlab.stores.base.InstanceRef('1.2', '1.2.3', '1.2.3.4'))",
    ]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=True)
    client.execute(cwd=str(tmp_path))
    text = nbformat.writes(notebook)
    assert "NotFoundError" in text  # the last cell failed as planned, and its traceback is here
    assert "patient_dicomweb_paths" in text or "DICOMwebPath" in text
    assert TOKEN not in text and TOKEN[:20] not in text
