"""Which adapter ``connect()`` arguments open (no server is contacted)."""

from __future__ import annotations

import pytest

from dicomlab.backends import open_store
from dicomlab.errors import InvalidResourceError, UnsupportedBackendError
from dicomlab.stores.dicomweb import DICOMwebStore

GOOGLE_NAME = "projects/p/locations/us-central1/datasets/d/dicomStores/s"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8042/dicom-web", "https://pacs.example.org/dicom-web/"]
)
def test_dicomweb_urls_open_a_dicomweb_store(url, tmp_path):
    store = open_store(url, tmp_path)
    assert isinstance(store, DICOMwebStore)
    assert store.url == url.rstrip("/")


@pytest.mark.parametrize(
    "spec", [GOOGLE_NAME, f"https://healthcare.googleapis.com/v1/{GOOGLE_NAME}/dicomWeb"]
)
def test_google_stores_parse_then_wait_for_credentials(spec, tmp_path):
    with pytest.raises(UnsupportedBackendError) as info:
        open_store(spec, tmp_path)
    assert GOOGLE_NAME in str(info.value) and "credentials" in str(info.value)


def test_malformed_google_store_names_the_bad_value(tmp_path):
    bad = "projects/p/locations/l/datasets/d"
    with pytest.raises(InvalidResourceError) as info:
        open_store(bad, tmp_path)
    assert repr(bad) in str(info.value)
