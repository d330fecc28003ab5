"""The gs:// store without a network: URIs, connect(), and the ranged reader's arithmetic."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import Any

import pytest

from dicomlab.backends import open_store
from dicomlab.errors import InvalidResourceError, RemoteError, UnsupportedBackendError
from dicomlab.stores.gcsfiles import GcsFileStore, parse_store_uri
from dicomlab.stores.gcsread import RangedObject, storage_client
from dicomlab.stores.headers import parse_instance_metadata


class Blob:
    """Bytes that answer ``download_as_bytes(start=, end=)`` as Cloud Storage does, counted."""

    def __init__(self, data: bytes, fail: BaseException | None = None) -> None:
        self.data, self.fail, self.ranges = data, fail, []

    def download_as_bytes(self, *, start: int, end: int, **_: Any) -> bytes:
        self.ranges.append((start, end))
        if self.fail is not None:
            raise self.fail
        return self.data[start : end + 1]


def test_connect_opens_a_gs_store_without_touching_the_network(tmp_path: Path) -> None:
    store = open_store("gs://idc-open-data/cr/?anonymous=true", tmp_path)
    assert isinstance(store, GcsFileStore)
    assert (store.url, store.anonymous) == ("gs://idc-open-data/cr", True)
    assert not GcsFileStore("gs://bkt").anonymous


@pytest.mark.parametrize("uri", ["gs://bkt/p?anonymous=maybe", "gs://bkt/p?project=x"])
def test_unknown_uri_options_are_refused_by_name(uri: str) -> None:
    with pytest.raises(UnsupportedBackendError, match=uri.replace("?", r"\?")):
        parse_store_uri(uri)


def test_bad_bucket_names_say_so() -> None:
    with pytest.raises(InvalidResourceError, match="Bad_Bucket"):
        GcsFileStore("gs://Bad_Bucket/x")


def test_reads_grow_and_never_fetch_twice() -> None:
    blob = Blob(bytes(range(256)) * 100)
    reader = RangedObject(blob, len(blob.data), first=100)
    assert reader.read(10) == blob.data[:10] and reader.read(95) == blob.data[10:105]
    assert reader.fetches == [(0, 100), (100, 200)]  # the second read twice the first
    reader.seek(0)
    assert reader.read(105) == blob.data[:105] and len(reader.fetches) == 2  # held already
    reader.seek(20_000)  # passed over (a deferred value): never fetched
    assert reader.read() == blob.data[20_000:] and reader.fetches[-1] == (20_000, 5600)
    assert blob.ranges == [(s, s + n - 1) for s, n in reader.fetches]  # inclusive ends


def test_a_failed_read_is_an_os_error_the_header_reader_reports_as_transport() -> None:
    from google.api_core import exceptions

    blob = Blob(b"", fail=exceptions.ServiceUnavailable("try later"))
    reader = RangedObject(blob, 5000, uri="gs://b/x.dcm")
    with pytest.raises(OSError) as caught:
        reader.read(10)
    assert caught.value.errno == errno.EIO and "gs://b/x.dcm" in str(caught.value)
    item = parse_instance_metadata(reader, "gs://b/x.dcm", 5000)  # type: ignore[arg-type]
    assert item.transport and "503" in str(item.error)


def test_a_header_is_read_from_its_first_bytes_only() -> None:
    from pydicom.data import get_testdata_file

    data = Path(get_testdata_file("MR_small.dcm", download=False)).read_bytes()
    blob = Blob(data)
    reader = RangedObject(blob, len(data), first=1024)
    item = parse_instance_metadata(reader, "mr", len(data))  # type: ignore[arg-type]
    assert item.dataset is not None and item.dataset.Rows == 64
    assert sum(n for _, n in reader.fetches) < len(data) // 2  # not the pixel data
    assert io.BytesIO(data).read(4) == data[:4]


def test_missing_credentials_say_what_to_do_in_one_readable_sentence(monkeypatch) -> None:
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import storage

    def no_credentials(*_: Any, **__: Any) -> None:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(storage, "Client", no_credentials)
    with pytest.raises(RemoteError) as caught:
        storage_client()
    message = str(caught.value)
    assert message.startswith("Cloud Storage client found no usable Google credentials"), message
    assert "gcloud auth application-default login" in message and "?anonymous=true" in message
