"""Which adapter ``connect()`` arguments open (no server is contacted)."""

from __future__ import annotations

import pytest

from dicomlab.backends import open_bucket, open_store
from dicomlab.errors import CredentialsError, InvalidResourceError
from dicomlab.stores.dicomweb import DICOMwebStore
from dicomlab.stores.profiles import GOOGLE

GOOGLE_NAME = "projects/p/locations/us-central1/datasets/d/dicomStores/s"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8042/dicom-web", "https://pacs.example.org/dicom-web/"]
)
def test_dicomweb_urls_open_a_dicomweb_store(url, tmp_path):
    store = open_store(url, tmp_path)
    assert isinstance(store, DICOMwebStore)
    assert store.url == url.rstrip("/")


@pytest.mark.parametrize(
    "spec, version",
    [
        (GOOGLE_NAME, "v1"),
        (f"https://healthcare.googleapis.com/v1/{GOOGLE_NAME}/dicomWeb", "v1"),
        (f"https://healthcare.googleapis.com/v1beta1/{GOOGLE_NAME}/dicomWeb/", "v1beta1"),
    ],
)
def test_google_stores_open_with_default_credentials(spec, version, tmp_path, monkeypatch):
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    asked = []

    def default(scopes=None, **kwargs):
        asked.append(scopes)
        return AnonymousCredentials(), "p"

    monkeypatch.setattr(google.auth, "default", default)
    store = open_store(spec, tmp_path)
    assert isinstance(store, DICOMwebStore) and store.profile is GOOGLE
    assert store.url == f"https://healthcare.googleapis.com/{version}/{GOOGLE_NAME}/dicomWeb"
    assert asked == [["https://www.googleapis.com/auth/cloud-platform"]]
    assert store.profile.page_limit("instances") == 50000


def test_google_store_without_credentials_says_what_to_do(tmp_path, monkeypatch):
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def default(scopes=None, **kwargs):
        raise DefaultCredentialsError("none here")

    monkeypatch.setattr(google.auth, "default", default)
    with pytest.raises(CredentialsError) as info:
        open_store(GOOGLE_NAME, tmp_path)
    assert GOOGLE_NAME in str(info.value)
    assert "gcloud auth application-default login" in str(info.value)


def test_gs_uris_open_a_cloud_storage_bucket(tmp_path):
    from dicomlab.buckets.gcs import GcsBucket

    bucket = open_bucket("gs://my-bucket/cohorts", tmp_path)
    assert isinstance(bucket, GcsBucket) and bucket.url == "gs://my-bucket/cohorts"


def test_malformed_google_store_names_the_bad_value(tmp_path):
    bad = "projects/p/locations/l/datasets/d"
    with pytest.raises(InvalidResourceError) as info:
        open_store(bad, tmp_path)
    assert repr(bad) in str(info.value)
