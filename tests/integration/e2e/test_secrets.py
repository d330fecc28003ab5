"""Credentials never show: not in reprs, logs, errors, tracebacks, records or notebook outputs.

The quickstart flow runs against the real Orthanc with ``Authorization: Bearer
<token>`` on every request (Orthanc ignores it), in this process and in an
executed notebook; everything a user could see is scanned for the token. The
same flow runs with a password in the store URL against an Orthanc that
requires it, and refused URIs (other schemes, query strings, userinfo where
none belongs) are scanned for theirs.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import traceback
from collections.abc import Iterator

import nbformat
import pytest
import requests
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

import dicomlab
from dicomlab.errors import (
    DicomlabError,
    InvalidRequestError,
    InvalidResourceError,
    RemoteError,
    UnsupportedBackendError,
)
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.dicomweb import DICOMwebStore
from tests.support.orthanc import OrthancServer, missing_reason

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
    # Orthanc here asks for no password: it ignores the HTTP Basic header it gets.
    monkeypatch.setenv("DICOMLAB_TEST_URL", _with_userinfo(orthanc.dicomweb_url))
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
        "other = dicomlab.connect(store=os.environ['DICOMLAB_TEST_URL'])\nother",
        "other.store.search_studies(limit=1)\nother.store",
        "other.store.fetch_instance(dicomlab.stores.base.InstanceRef('1.2', '1.2.3', '1.2.4'))",
    ]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=True)
    client.execute(cwd=str(tmp_path))
    text = nbformat.writes(notebook)
    assert "NotFoundError" in text  # the last cell failed as planned, and its traceback is here
    assert "patient_dicomweb_paths" in text or "DICOMwebPath" in text
    assert TOKEN not in text and TOKEN[:20] not in text
    # The cells with the password in the URL ran: a display, a search, a traceback.
    shown, searched, failed = (
        [o for o in cell.outputs if o["output_type"] != "stream"] for cell in notebook.cells[-3:]
    )  # the DEBUG log lines are stream outputs
    assert "dicomlab Lab" in shown[0]["data"]["text/html"]
    assert searched[0]["data"]["text/plain"] == f"DICOMwebStore({orthanc.dicomweb_url!r})"
    assert failed[0]["output_type"] == "error" and failed[0]["ename"] == "NotFoundError"
    assert not _leaks([text])


# ---- a password in the store URL -----------------------------------------------------------

USER = "alice"
PASSWORD = "Pw@never-shown-4242/x"  # '@' and '/' must be percent-encoded in a URL
ENCODED = "Pw%40never-shown-4242%2Fx"
SECRETS = (PASSWORD, ENCODED, "never-shown-4242")


def _leaks(texts: list[str]) -> list[str]:
    return [text[:300] for text in texts if any(secret in text for secret in SECRETS)]


def _everything_about(exc: BaseException) -> list[str]:
    """What a user can see of an error: its text, its repr and the printed traceback."""
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """An Orthanc that answers only HTTP Basic requests as alice (with the password)."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(f"Orthanc tests skipped: {reason}")
    server = OrthancServer.start(tmp_path_factory.mktemp("guarded"), users={USER: PASSWORD})
    try:
        yield server
    finally:
        server.stop()


def _with_userinfo(url: str, password: str = ENCODED) -> str:
    return url.replace("http://", f"http://{USER}:{password}@", 1)


def test_a_password_in_the_store_url_authenticates_and_never_shows(
    guarded: OrthancServer, sample_files, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    url = _with_userinfo(guarded.dicomweb_url)
    with pytest.raises(RemoteError) as refused:  # the server does want credentials
        DICOMwebStore(guarded.dicomweb_url, max_attempts=1).search_studies()
    assert refused.value.status == 401
    lab = dicomlab.connect(store=url, home=tmp_path)
    assert lab.store.store_files(sample_files).counter == {"success": 81, "failure": 0}
    seen: list[str] = [repr(lab), lab._repr_html_(), repr(lab.store), lab.store.url]
    seen += [repr(vars(lab.store)), repr(vars(lab.store.session))]  # a session.auth too
    assert lab.store.url == guarded.dicomweb_url  # the same server, without the userinfo
    result = lab.export_metadata(progress=False, workers=1)
    assert result.success == 81
    seen += [repr(result), result._repr_html_(), result.store, str(vars(result))]
    hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
    grid = lab.images(hits, size=32, progress=False)
    seen += [hits.to_string(), repr(hits.attrs), repr(grid), grid.to_html()]
    done = lab.export_cohort(hits, "cohort", name="lung.txt", progress=False)
    seen += [repr(done), done._repr_html_(), json.dumps(done.provenance, default=str)]
    assert done.provenance["store"] == guarded.dicomweb_url
    stored = [lab.bucket.download_bytes(n).decode() for n in lab.bucket.list()]
    assert any('"provenance' in s or '"store"' in s for s in stored)  # the record is there
    seen += stored
    for failing in (
        lambda: lab.store.fetch_instance(InstanceRef("1.2", "1.2.3", "1.2.3.4")),
        lambda: dicomlab.connect(
            store=_with_userinfo("http://127.0.0.1:9/dicom-web"), home=tmp_path
        ).store.search_studies(),
        lambda: DICOMwebStore(
            _with_userinfo(guarded.dicomweb_url, "WRONG-" + ENCODED), max_attempts=1
        ).search_studies(),
    ):
        with pytest.raises(DicomlabError) as info:
            failing()
        seen += _everything_about(info.value)
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # the debug log was on
    seen.append(caplog.text)
    assert not _leaks(seen)


@pytest.mark.parametrize(
    ("argument", "spec", "error", "shown"),
    [
        pytest.param(
            "warehouse",
            f"postgresql://u:{ENCODED}@db.example.org/lab",
            UnsupportedBackendError,
            "postgresql://u:****@db.example.org/lab",
            id="postgresql-password",
        ),
        pytest.param(
            "store",
            f"s3://AKIA:{ENCODED}@bucket/dicom?X-Amz-Signature={ENCODED}",
            UnsupportedBackendError,
            "s3://AKIA:****@bucket/dicom?X-Amz-Signature=****",
            id="s3-store",
        ),
        pytest.param(
            "bucket",
            f"s3://bucket/cohorts?X-Amz-Credential={ENCODED}&x=1",
            UnsupportedBackendError,
            "s3://bucket/cohorts?X-Amz-Credential=****&x=1",
            id="s3-bucket-signed",
        ),
        pytest.param(
            "store",
            f"http://127.0.0.1:9/dicom-web?access_token={ENCODED}",
            InvalidResourceError,
            "http://127.0.0.1:9/dicom-web?access_token=****",
            id="token-in-query",
        ),
        pytest.param(
            "store",
            f"http://127.0.0.1:9/dicom-web#access_token={ENCODED}",
            InvalidResourceError,
            "http://127.0.0.1:9/dicom-web#access_token=****",
            id="token-in-fragment",
        ),
        pytest.param(
            "store",
            f"http://{USER}:{PASSWORD}@127.0.0.1:9/dicom-web",
            InvalidResourceError,
            f"http://{USER}:****@127.0.0.1:9/dicom-web",
            id="unencoded-password",
        ),
        pytest.param(
            "store",
            "https://healthcare.googleapis.com/v1/projects/p/locations/l/datasets/d/"
            f"dicomStores/s/dicomWeb?access_token={ENCODED}",
            InvalidResourceError,
            "dicomWeb?access_token=****",
            id="google-store-token",
        ),
        pytest.param(
            "bucket",
            f"gs://u:{ENCODED}@bucket/cohorts",
            InvalidResourceError,
            "gs://u:****@bucket/cohorts",
            id="gs-userinfo",
        ),
        pytest.param(
            "warehouse",
            f"bq://{ENCODED}@project.dataset",
            InvalidResourceError,
            "bq://****@project.dataset",
            id="bq-userinfo",
        ),
    ],
)
def test_a_refused_uri_never_echoes_its_secret(tmp_path, argument, spec, error, shown):
    with pytest.raises(error) as info:
        dicomlab.connect(**{argument: spec}, home=tmp_path)
    assert type(info.value) is error
    assert shown in str(info.value)  # the value is named, redacted
    assert not _leaks([*_everything_about(info.value), repr(vars(info.value))])


def test_credentials_in_the_url_and_in_auth_are_refused():
    url = _with_userinfo("http://127.0.0.1:9/dicom-web")
    with pytest.raises(InvalidRequestError) as info:
        DICOMwebStore(url, auth=(USER, PASSWORD))
    assert "'http://127.0.0.1:9/dicom-web'" in str(info.value)
    assert not _leaks(_everything_about(info.value))


def test_the_cli_never_echoes_a_warehouse_password(tmp_path):
    spec = f"postgresql://u:{ENCODED}@db.example.org/lab"
    done = subprocess.run(
        [sys.executable, "-m", "dicomlab", "--home", str(tmp_path), "--warehouse", spec, "queries"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2  # a usage error
    assert done.stderr.count("\n") == 1 and "postgresql://u:****@db.example.org/lab" in done.stderr
    assert not _leaks([done.stdout, done.stderr])
