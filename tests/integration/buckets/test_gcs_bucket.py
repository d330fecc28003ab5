"""GcsBucket against gcp-storage-emulator, and the bucket contract shared with LocalBucket."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from dicomlab.buckets.base import Bucket
from dicomlab.buckets.gcs import GcsBucket, translate_error
from dicomlab.buckets.local import LocalBucket
from dicomlab.errors import (
    AlreadyExistsError,
    InvalidIdentifierError,
    InvalidResourceError,
    NotFoundError,
    RemoteError,
)
from tests.support.gcs_emulator import PreconditionSession, StorageEmulator

BAD_NAMES = ["", "/abs.txt", "a//b.txt", "../up.txt", "a/./b", "dir/", "back\\slash", "nul\x00"]


@pytest.fixture
def emulator(storage_emulator: StorageEmulator) -> StorageEmulator:
    """The session's gcp-storage-emulator (see conftest), one bucket shared by the tests."""
    return storage_emulator


@pytest.fixture
def session() -> PreconditionSession:
    """The HTTP session of :func:`client`: records requests, can inject failures."""
    return PreconditionSession()


@pytest.fixture
def client(emulator: StorageEmulator, session: PreconditionSession) -> Any:
    return emulator.client(session)


@pytest.fixture
def gcs(emulator: StorageEmulator, client: Any) -> GcsBucket:
    """A GcsBucket on a fresh folder of the emulator's bucket (tests share the bucket)."""
    return GcsBucket(f"gs://{emulator.bucket}/t-{uuid.uuid4().hex[:12]}", client=client)


@pytest.fixture(params=["local", "gcs"])
def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Bucket:
    """Each adapter in turn, for the contract every bucket must keep."""
    if request.param == "local":
        return LocalBucket(tmp_path / "bucket")
    gcs_bucket: GcsBucket = request.getfixturevalue("gcs")
    return gcs_bucket


# --- the contract: LocalBucket and GcsBucket agree -------------------------------------


def test_is_a_bucket(bucket: Bucket) -> None:
    assert isinstance(bucket, Bucket)


def test_upload_download_exists(bucket: Bucket) -> None:
    data = bytes(range(256)) + b"\r\n\x00"
    uri = bucket.upload_bytes(data, "cohorts/lung.bin")
    assert uri == f"{bucket.url}/cohorts/lung.bin"
    assert bucket.download_bytes("cohorts/lung.bin") == data
    assert bucket.exists("cohorts/lung.bin")
    assert not bucket.exists("cohorts/liver.bin")
    assert not bucket.exists("cohorts")  # a folder is not an object


def test_empty_object_and_unusual_name(bucket: Bucket) -> None:
    name = "ünïcode dir/a b#?&=.txt"
    bucket.upload_bytes(b"", name)
    assert bucket.download_bytes(name) == b""
    assert bucket.list() == [name]


def test_list_with_prefix(bucket: Bucket) -> None:
    assert bucket.list() == []
    for name in ["b.txt", "dir/b.txt", "dir/sub/c.txt", "dirx.txt", "a.txt"]:
        bucket.upload_bytes(name.encode(), name)
    assert bucket.list() == ["a.txt", "b.txt", "dir/b.txt", "dir/sub/c.txt", "dirx.txt"]
    assert bucket.list("dir/") == ["dir/b.txt", "dir/sub/c.txt"]
    assert bucket.list("dir") == ["dir/b.txt", "dir/sub/c.txt", "dirx.txt"]
    assert bucket.list("nothing") == []


def test_refuses_to_overwrite(bucket: Bucket) -> None:
    uri = bucket.upload_bytes(b"original", "cohort.txt")
    with pytest.raises(AlreadyExistsError) as info:
        bucket.upload_bytes(b"replacement", "cohort.txt")
    assert uri in str(info.value)
    assert "overwrite=True" in str(info.value)
    assert isinstance(info.value, FileExistsError)
    assert bucket.download_bytes("cohort.txt") == b"original"


def test_overwrite_replaces(bucket: Bucket) -> None:
    bucket.upload_bytes(b"original", "cohort.txt")
    uri = bucket.upload_bytes(b"replacement", "cohort.txt", overwrite=True)
    assert uri == f"{bucket.url}/cohort.txt"
    assert bucket.download_bytes("cohort.txt") == b"replacement"
    assert bucket.list() == ["cohort.txt"]


def test_missing_object(bucket: Bucket) -> None:
    with pytest.raises(NotFoundError) as info:
        bucket.download_bytes("missing/cohort.txt")
    assert str(info.value) == f"{bucket.url}/missing/cohort.txt does not exist"
    assert isinstance(info.value, LookupError)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_rejected(bucket: Bucket, name: str) -> None:
    for call in (
        lambda: bucket.upload_bytes(b"x", name),
        lambda: bucket.download_bytes(name),
        lambda: bucket.exists(name),
    ):
        with pytest.raises(InvalidIdentifierError) as info:
            call()
        assert info.value.value == name
    assert bucket.list() == []


# --- Cloud Storage specifics -------------------------------------------------------------


class _NoNetwork:
    """A client stand-in that fails the test if the adapter touches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the client was used ({name}) before the name was checked")


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_rejected_before_any_request(name: str) -> None:
    bucket = GcsBucket("gs://dicomlab-test/folder", client=_NoNetwork())
    with pytest.raises(InvalidIdentifierError):
        bucket.upload_bytes(b"x", name)
    with pytest.raises(InvalidIdentifierError):
        bucket.download_bytes(name)
    with pytest.raises(InvalidIdentifierError):
        bucket.exists(name)


def test_objects_live_under_the_prefix(emulator: StorageEmulator, client: Any) -> None:
    folder = f"p-{uuid.uuid4().hex[:12]}"
    bucket = GcsBucket(f"gs://{emulator.bucket}/{folder}/", client=client)
    assert repr(bucket) == f"GcsBucket('gs://{emulator.bucket}/{folder}')"
    assert bucket.upload_bytes(b"x", "a/b.txt") == f"gs://{emulator.bucket}/{folder}/a/b.txt"
    client.bucket(emulator.bucket).blob(f"{folder}x/not-mine.txt").upload_from_string(b"x")
    names = [b.name for b in client.list_blobs(emulator.bucket, prefix=folder)]
    assert names == [f"{folder}/a/b.txt", f"{folder}x/not-mine.txt"]
    assert bucket.list() == ["a/b.txt"]
    whole = GcsBucket(f"gs://{emulator.bucket}", client=client)
    assert whole.download_bytes(f"{folder}/a/b.txt") == b"x"


def test_content_type_is_stored(emulator: StorageEmulator, client: Any, gcs: GcsBucket) -> None:
    gcs.upload_bytes(b"/studies/1.2\n", "plain.txt")
    gcs.upload_bytes(b"{}", "doc.json", content_type="application/json")
    folder = gcs.uri.object_name
    stored = client.bucket(emulator.bucket)
    assert stored.get_blob(f"{folder}/plain.txt").content_type == "text/plain"
    assert stored.get_blob(f"{folder}/doc.json").content_type == "application/json"


def test_upload_sends_a_generation_precondition(
    gcs: GcsBucket, session: PreconditionSession
) -> None:
    gcs.upload_bytes(b"1", "a.txt")
    gcs.upload_bytes(b"2", "a.txt", overwrite=True)
    uploads = [url for method, url in session.sent if method == "POST" and "/upload/" in url]
    assert len(uploads) == 2
    assert "ifGenerationMatch=0" in uploads[0]
    assert "ifGenerationMatch" not in uploads[1]


def test_large_upload_refuses_to_overwrite(gcs: GcsBucket, session: PreconditionSession) -> None:
    data = b"\x01" * (9 * 1024 * 1024)  # above the client's 8 MiB multipart limit
    gcs.upload_bytes(data, "large.bin")
    with pytest.raises(AlreadyExistsError):
        gcs.upload_bytes(b"small", "large.bin")
    with pytest.raises(AlreadyExistsError):
        gcs.upload_bytes(data, "large.bin")
    assert any("uploadType=resumable" in url for _, url in session.sent)
    assert gcs.download_bytes("large.bin") == data


@pytest.mark.xfail(
    strict=True,
    reason="gcp-storage-emulator ignores ifGenerationMatch; when this passes, drop the 412 "
    "emulation in PreconditionSession",
)
def test_emulator_enforces_generation_precondition(emulator: StorageEmulator) -> None:
    import requests

    raw = emulator.client(requests.Session())
    blob_name = f"raw-{uuid.uuid4().hex[:12]}.txt"
    raw.bucket(emulator.bucket).blob(blob_name).upload_from_string(b"1", if_generation_match=0)
    bucket = GcsBucket(f"gs://{emulator.bucket}", client=raw)
    with pytest.raises(AlreadyExistsError):
        bucket.upload_bytes(b"2", blob_name)


def test_missing_bucket(client: Any) -> None:
    bucket = GcsBucket("gs://no-such-bucket-dicomlab/folder", client=client)
    for call in (
        lambda: bucket.upload_bytes(b"x", "a.txt"),
        lambda: bucket.download_bytes("a.txt"),
        lambda: bucket.list(),
    ):
        with pytest.raises(NotFoundError) as info:
            call()
        message = str(info.value)
        assert "bucket gs://no-such-bucket-dicomlab does not exist" in message
        assert "gcloud storage buckets create gs://no-such-bucket-dicomlab" in message
        assert type(info.value.__cause__).__name__ == "NotFound"
    assert bucket.exists("a.txt") is False


def test_other_failures_become_remote_errors(gcs: GcsBucket, session: PreconditionSession) -> None:
    session.faults["forbidden.txt"] = 403
    session.faults["broken.txt"] = 400
    for call, status, name in (
        (lambda: gcs.download_bytes("forbidden.txt"), 403, "forbidden.txt"),
        (lambda: gcs.upload_bytes(b"x", "forbidden.txt"), 403, "forbidden.txt"),
        (lambda: gcs.exists("forbidden.txt"), 403, "forbidden.txt"),
        (lambda: gcs.upload_bytes(b"x", "broken.txt", overwrite=True), 400, "broken.txt"),
    ):
        with pytest.raises(RemoteError) as info:
            call()
        error = info.value
        assert (error.service, error.status) == ("Cloud Storage", status)
        assert error.resource == f"{gcs.url}/{name}"
        assert f"HTTP {status}" in str(error)
        assert "injected by the test" in str(error)
        assert "alt=media" not in str(error) and "uploadType" not in str(error)
        assert error.__cause__ is not None


def test_default_client_honours_storage_emulator_host(
    emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    bucket = GcsBucket(f"gs://{emulator.bucket}/env-{uuid.uuid4().hex[:12]}")
    assert bucket.upload_bytes(b"x", "a.txt").endswith("/a.txt")
    assert bucket.list() == ["a.txt"]


@pytest.mark.parametrize(
    "uri", ["s3://bucket/x", "gs://UPPER/x", "gs://b", "gs://bucket/a//b", "gs://bucket/../x"]
)
def test_bad_uris_are_rejected(uri: str) -> None:
    with pytest.raises(InvalidResourceError) as info:
        GcsBucket(uri, client=_NoNetwork())
    assert info.value.value == uri


def test_translate_error_cuts_query_strings() -> None:
    import requests
    from google.api_core import exceptions

    error = translate_error(
        requests.ConnectionError("GET https://storage.example/o?key=SECRET&alt=media refused"),
        resource="gs://b/x.txt",
    )
    assert isinstance(error, RemoteError)
    assert "SECRET" not in str(error)
    assert "ConnectionError" in str(error)
    assert error.status is None
    retry = translate_error(
        exceptions.RetryError("deadline", cause=exceptions.ServiceUnavailable("busy")),
        resource="gs://b/x.txt",
    )
    assert isinstance(retry, RemoteError)
    assert "retries exhausted: 503 busy" in str(retry)
    assert retry.status is None


def test_missing_credentials_say_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    bucket = GcsBucket("gs://dicomlab-test/folder")
    with pytest.raises(RemoteError) as info:
        bucket.exists("a.txt")
    assert "gcloud auth application-default login" in str(info.value)
    assert info.value.service == "Cloud Storage"
