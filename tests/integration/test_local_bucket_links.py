"""A local bucket's object names stay inside its folder, whatever symbolic links it holds.

A link as a folder on the way (``link/x.txt``) or as the object itself is
refused with :class:`InvalidIdentifierError` naming the name, for writes and
reads; nothing is written outside the bucket, also when a link appears between
the check and the write.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dicomlab.plumbing.atomic as atomic
from dicomlab.buckets.local import LocalBucket
from dicomlab.errors import AlreadyExistsError, InvalidIdentifierError

DATA = b"/studies/9.9\n"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (links not followed) with its bytes."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


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
