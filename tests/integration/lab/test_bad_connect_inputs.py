"""The bad-input catalogue for ``connect``: backend specs, data folders, DICOMweb URLs.

Each is refused with a typed error naming the value, before any data folder
is made (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import dicomlab
from dicomlab.errors import InvalidRequestError, UnsupportedBackendError
from dicomlab.stores.dicomweb import DICOMwebStore
from tests.support.catalogue import assert_names


def test_empty_store_spec_is_refused(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(store="", home=home)
    assert_names(info.value, "")


@pytest.mark.parametrize("kind", ["store", "warehouse", "bucket"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("data\0.duckdb", id="nul"),
        pytest.param(Path("data\0.duckdb"), id="nul-path"),
        pytest.param(b"/tmp/data.duckdb", id="bytes"),
        pytest.param(42, id="int"),
        pytest.param(["/tmp/data"], id="list"),
    ],
)
def test_bad_backend_spec_type_is_refused(home, kind, value):
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(**{kind: value}, home=home)
    assert kind in str(info.value)
    assert_names(info.value, os.fspath(value) if isinstance(value, Path) else value)
    assert not home.exists()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("data\0", id="nul"),
        pytest.param(Path("data\0"), id="nul-path"),
        pytest.param(b"/tmp/home", id="bytes"),
        pytest.param(42, id="int"),
        pytest.param("", id="empty"),
        pytest.param("  ", id="blank"),
    ],
)
def test_bad_home_is_refused(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidRequestError) as info:
        dicomlab.connect(home=value)
    assert "home" in str(info.value)
    assert_names(info.value, os.fspath(value) if isinstance(value, Path) else value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    ["http://", "https://", "http:///dicom-web", "http://:8042/dicom-web", "http://[::1/dicom-web"],
)
def test_dicomweb_url_without_a_server_is_refused(home, url):
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(store=url, home=home)
    assert_names(info.value, url)
    assert "HOST" in str(info.value)
    assert not home.exists()
    with pytest.raises(UnsupportedBackendError) as info:  # the store itself refuses it
        DICOMwebStore(url)
    assert_names(info.value, url)


def test_empty_bucket_spec_is_refused(home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(bucket="", home=home)
    assert_names(info.value, "")


def test_bigquery_warehouse_without_google_libraries_says_what_to_install(home, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.cloud.bigquery", None)  # as if not installed
    with pytest.raises(UnsupportedBackendError) as info:
        dicomlab.connect(home=home, warehouse="bq://my-project.imaging")
    assert "'bq://my-project.imaging'" in str(info.value)
    assert "pip install google-cloud-bigquery" in str(info.value)
    assert not (home / "warehouse.duckdb").exists()
