"""The bad-input catalogue for buckets: ``gs://`` URIs, object names and symbolic links.

A bad ``gs://`` URI is refused before the client is used; a bad object name
before anything is written. A local bucket's object names stay inside its
folder, whatever symbolic links it holds: a link as a folder on the way
(``link/x.txt``) or as the object itself is refused with
:class:`InvalidIdentifierError` naming the name, for writes and reads; nothing
is written outside the bucket, also when a link appears between the check and
the write (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dicomlab.plumbing.atomic as atomic
from dicomlab.buckets.gcs import GcsBucket
from dicomlab.buckets.local import LocalBucket
from dicomlab.errors import AlreadyExistsError, InvalidIdentifierError, InvalidResourceError
from tests.support.catalogue import Tripwire, assert_names, snapshot

DATA = b"/studies/9.9\n"


@pytest.fixture
def place(tmp_path: Path) -> tuple[LocalBucket, Path]:
    """A bucket with links to ``elsewhere`` (a folder outside it holding ``secret.txt``)."""
    root, elsewhere = tmp_path / "bucket", tmp_path / "elsewhere"
    (root / "a").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_bytes(b"keep me\n")
    (root / "inside.txt").write_bytes(b"/studies/1.2\n")
    (root / "link").symlink_to(elsewhere)
    (root / "a" / "deep").symlink_to(elsewhere)
    (root / "file-link.txt").symlink_to(elsewhere / "secret.txt")
    (root / "dangling.txt").symlink_to(elsewhere / "new.txt")
    (root / "inner-link.txt").symlink_to(root / "inside.txt")
    return LocalBucket(root), tmp_path


LINKED = [
    pytest.param("link/x.txt", id="linked-folder"),
    pytest.param("link/secret.txt", id="linked-folder-existing-file"),
    pytest.param("a/deep/x.txt", id="nested-linked-folder"),
    pytest.param("file-link.txt", id="link-to-a-file-outside"),
    pytest.param("dangling.txt", id="dangling-link"),
    pytest.param("inner-link.txt", id="link-to-a-file-inside"),
]


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("name", LINKED)
def test_an_upload_through_a_link_is_refused(place, name, overwrite):
    bucket, tmp_path = place
    before = snapshot(tmp_path)
    with pytest.raises(InvalidIdentifierError) as info:
        bucket.upload_bytes(DATA, name, overwrite=overwrite)
    assert type(info.value) is InvalidIdentifierError
    assert repr(name) in str(info.value) and "symbolic link" in str(info.value)
    assert snapshot(tmp_path) == before  # nothing outside, nothing inside


@pytest.mark.parametrize("name", LINKED)
def test_a_read_through_a_link_is_refused(place, name):
    bucket, _ = place
    for read in (bucket.download_bytes, bucket.exists):
        with pytest.raises(InvalidIdentifierError) as info:
            read(name)
        assert repr(name) in str(info.value)


def test_links_are_not_listed_and_plain_objects_still_work(place):
    bucket, tmp_path = place
    assert bucket.list() == ["inside.txt"]
    uri = bucket.upload_bytes(DATA, "a/b/new.txt")
    assert uri == (tmp_path / "bucket" / "a" / "b" / "new.txt").as_uri()
    assert bucket.download_bytes("a/b/new.txt") == DATA and bucket.exists("a/b/new.txt")
    assert bucket.list("a/") == ["a/b/new.txt"]
    assert not bucket.exists("inside.txt/x") and not bucket.exists("missing/x.txt")


def test_a_bucket_folder_reached_through_a_link_is_fine(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    bucket = LocalBucket(tmp_path / "alias")
    bucket.upload_bytes(DATA, "x/cohort.txt")
    assert (tmp_path / "real" / "x" / "cohort.txt").read_bytes() == DATA


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_link_planted_during_the_write_is_not_followed(place, monkeypatch, overwrite):
    """A link that appears between the check and the write never sends the data outside."""
    bucket, tmp_path = place
    target = tmp_path / "elsewhere" / "secret.txt"
    new_temporary = atomic._new_temporary

    def racing(name: str, dir_fd: int | None) -> tuple[int, str]:
        made = new_temporary(name, dir_fd)
        os.symlink(target, "planted.txt", dir_fd=dir_fd)
        return made

    monkeypatch.setattr(atomic, "_new_temporary", racing)
    if overwrite:
        bucket.upload_bytes(DATA, "planted.txt", overwrite=True)  # replaces the link itself
        assert not (tmp_path / "bucket" / "planted.txt").is_symlink()
        assert (tmp_path / "bucket" / "planted.txt").read_bytes() == DATA
    else:
        with pytest.raises(AlreadyExistsError):
            bucket.upload_bytes(DATA, "planted.txt")
    assert target.read_bytes() == b"keep me\n"
    assert not [p for p in (tmp_path / "bucket").iterdir() if p.name.startswith(atomic.TEMP_PREFIX)]


def test_a_file_where_a_folder_is_needed_is_refused(place):
    bucket, tmp_path = place
    before = snapshot(tmp_path)
    with pytest.raises(InvalidIdentifierError) as info:
        bucket.upload_bytes(DATA, "inside.txt/x.txt")
    assert "'inside.txt/x.txt'" in str(info.value)
    assert snapshot(tmp_path) == before


# ---- gs:// URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("gs://", id="no-bucket"),
        pytest.param("gs://ab/x", id="bucket-too-short"),
        pytest.param("gs://" + "a" * 64 + "/x", id="bucket-too-long"),
        pytest.param("gs://Bucket/x", id="uppercase-bucket"),
        pytest.param("gs://-bucket/x", id="bucket-starts-with-hyphen"),
        pytest.param("gs://bucket-/x", id="bucket-ends-with-hyphen"),
        pytest.param("gs://bu cket/x", id="space-in-bucket"),
        pytest.param("gs://bücket/x", id="non-ascii-bucket"),
        pytest.param("gs://my..bucket/x", id="bucket-with-two-dots"),
        pytest.param("gs://192.168.5.4/x", id="ip-address-bucket"),
        pytest.param("gs://goog-cohorts/x", id="goog-prefix-bucket"),
        pytest.param("gs://my-google-data/x", id="google-in-bucket"),
        pytest.param("s3://bucket/x", id="wrong-scheme"),
        pytest.param("gs:/bucket/x", id="one-slash"),
        pytest.param("gs://bucket/a\nb", id="newline-in-object"),
        pytest.param("gs://bucket/" + "a" * 1025, id="object-over-1024-bytes"),
        pytest.param("gs://bucket/cohorts/../x", id="dot-dot-folder"),
        pytest.param(
            "gs://bucket/a\udcff",
            id="lone-surrogate",
        ),
        pytest.param(None, id="none"),
    ],
)
def test_bad_gcs_uri(uri):
    client = Tripwire()
    with pytest.raises(InvalidResourceError) as info:
        GcsBucket(uri, client=client)
    assert type(info.value) is InvalidResourceError
    assert_names(info.value, uri)
    assert client.used == []


# ---- object names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param("/abs.txt", id="absolute"),
        pytest.param("a//b.txt", id="empty-segment"),
        pytest.param("../escape.txt", id="parent"),
        pytest.param("a/../../escape.txt", id="parent-inside"),
        pytest.param("./a.txt", id="dot"),
        pytest.param("dir/", id="trailing-slash"),
        pytest.param("a\\b.txt", id="backslash"),
        pytest.param("a\nb.txt", id="newline"),
        pytest.param("a\x00b.txt", id="nul"),
        pytest.param("x" * 1025, id="1025-bytes"),
        pytest.param("é" * 513, id="1026-utf8-bytes"),
        pytest.param(
            "a\udcff.txt",
            id="lone-surrogate",
        ),
        pytest.param(None, id="none"),
    ],
)
def test_bad_object_name_writes_nothing(cohort_bucket, tmp_path, name):
    before = snapshot(tmp_path)
    with pytest.raises(InvalidIdentifierError) as info:
        cohort_bucket.upload_bytes(b"/studies/1.3\n", name)
    assert type(info.value) is InvalidIdentifierError
    assert_names(info.value, name)
    assert snapshot(tmp_path) == before  # nothing in the bucket, nothing beside it


def test_existing_object_is_not_overwritten(cohort_bucket, tmp_path):
    before = snapshot(tmp_path)
    with pytest.raises(AlreadyExistsError) as info:
        cohort_bucket.upload_bytes(b"/studies/9.9\n", "cohort.txt")
    assert type(info.value) is AlreadyExistsError
    assert "cohort.txt" in str(info.value)
    assert snapshot(tmp_path) == before


def test_dot_name_is_listed_or_refused(cohort_bucket):
    try:
        cohort_bucket.upload_bytes(b"/studies/1.3\n", ".cohort.txt")
    except InvalidIdentifierError as exc:
        assert_names(exc, ".cohort.txt")
    else:
        assert ".cohort.txt" in cohort_bucket.list()
