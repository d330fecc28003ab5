"""The Google profile against a local double of the Healthcare API's DICOMweb service.

The double checks what SPEC §4 documents and answers in its shapes: QIDO
``limit`` caps (5,000 studies/series, 50,000 instances) and the ``offset``
cap, a ``Warning`` header on truncated results, ``DELETE`` of a study or series
answered by a long-running operation, and STOW of DICOM JSON with a JPEG part.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator

import numpy as np
import pytest
import requests
from PIL import Image

from dicomlab.backends import google_store
from dicomlab.errors import InvalidRequestError, ServerWarning
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.profiles import GENERIC, GOOGLE
from tests.support.google_dicomweb import JPEG_TS, STORE, Double, google_dicomweb


@pytest.fixture
def google() -> Iterator[tuple[str, Double]]:
    with google_dicomweb() as double:
        yield double


def _limits(state: Double) -> list[tuple[int, int]]:
    return [
        (int(q["limit"][0]), int(q.get("offset", ["0"])[0]))
        for method, _, q in state.requests
        if method == "GET" and "limit" in q
    ]


def test_search_pages_at_googles_caps(google):
    url, state = google
    state.studies = 12_000
    found = DICOMwebStore(url, profile="google").search_studies()
    assert len(found) == 12_000 and found.StudyInstanceUID.is_unique
    assert _limits(state) == [(5000, 0), (5000, 5000), (5000, 10000), (5000, 12000)]
    assert str(found.StudyDate.dtype).startswith("datetime64")


def test_search_limit_asks_for_no_more_than_needed(google):
    url, state = google
    state.studies = 12_000
    found = DICOMwebStore(url, profile="google").search_studies(limit=7000)
    assert len(found) == 7000
    assert _limits(state) == [(5000, 0), (2000, 5000)]


def test_search_stops_and_warns_at_the_offset_cap(google):
    url, state = google
    state.studies = 20_000
    profile = dataclasses.replace(GOOGLE, max_offset=6000)
    with pytest.warns(ServerWarning, match="offset beyond 6000"):
        found = DICOMwebStore(url, profile=profile).search_studies()
    assert len(found) == 10_000


def test_a_server_that_ignores_offset_does_not_loop(google):
    url, state = google
    state.studies, state.ignore_offset = 12_000, True
    with pytest.warns(ServerWarning, match="ignores offset"):
        found = DICOMwebStore(url, profile="google").search_studies()
    assert len(found) == 5000 and found.StudyInstanceUID.is_unique  # the first page, once
    assert _limits(state) == [(5000, 0), (5000, 5000)]


def test_a_warning_header_is_surfaced(google):
    url, state = google
    state.studies = 3
    state.warning = '299 healthcare.googleapis.com: "The results were truncated"'
    with pytest.warns(ServerWarning, match="results were truncated"):
        DICOMwebStore(url, profile="google").search_studies()


def test_delete_study_waits_for_its_operation(google):
    url, state = google
    store = google_store(url, requests.Session())
    store.delete("1.2.3")
    assert ("DELETE", f"/v1/{STORE}/dicomWeb/studies/1.2.3", {}) in state.requests
    assert state.polls == 1
    store.delete("1.2.3", "1.2.3.4", "1.2.3.4.5")
    assert state.requests[-1][0] == "DELETE" and state.polls == 1


def test_a_google_store_with_nothing_to_wait_with_refuses_before_deleting(google):
    url, state = google
    store = DICOMwebStore(url, profile="google")
    with pytest.raises(
        InvalidRequestError, match=r"studies/1\.2\.3/series/1\.2\.3\.4: .*long-running"
    ):
        store.delete("1.2.3", "1.2.3.4")
    assert not [r for r in state.requests if r[0] == "DELETE"] and state.polls == 0
    store.delete("1.2.3", "1.2.3.4", "1.2.3.4.5")  # an instance delete is answered at once
    assert state.requests[-1][0] == "DELETE"


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 90, dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


METADATA = {
    "00080018": {"vr": "UI", "Value": ["1.2.3.4.5"]},
    "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
    "0020000E": {"vr": "UI", "Value": ["1.2.3.4"]},
}


def test_store_json_sends_dicom_json_with_a_jpeg_part(google):
    url, state = google
    result = DICOMwebStore(url, profile="google").store_json(METADATA, _jpeg())
    assert result.counter == {"success": 1, "failure": 0}
    (stowed,) = state.stowed
    assert stowed["jpeg"] == _jpeg()
    assert stowed["metadata"]["0020000D"] == METADATA["0020000D"]


def test_store_json_falls_back_to_part10_on_415(google, monkeypatch):
    url, state = google
    state.accept_json_stow = False
    store = DICOMwebStore(url, profile=GENERIC)
    sent = []
    monkeypatch.setattr(store, "store_datasets", lambda datasets: sent.append(datasets))
    store.store_json(METADATA, _jpeg())
    (datasets,) = sent
    (dataset,) = datasets.values()
    assert str(dataset.file_meta.TransferSyntaxUID) == JPEG_TS
    assert dataset.pixel_array.shape == (8, 8)
