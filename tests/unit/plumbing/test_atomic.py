"""The no-clobber atomic write: its three guarantees, on a real file system."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dicomlab.errors import AlreadyExistsError
from dicomlab.plumbing.atomic import TEMP_PREFIX, publish_folder, write_file


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_an_existing_file_is_never_replaced_unless_asked(tmp_path):
    target = tmp_path / "a.bin"
    write_file(target, lambda handle: handle.write(b"first"))
    with pytest.raises(AlreadyExistsError, match=str(target)):
        write_file(target, lambda handle: handle.write(b"second"))
    assert target.read_bytes() == b"first"
    write_file(target, lambda handle: handle.write(b"second"), replace=True, durable=True)
    assert target.read_bytes() == b"second"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("replace", [False, True])
def test_a_failing_writer_or_check_leaves_no_partial_file(tmp_path, replace):
    target = tmp_path / "a.bin"
    if replace:
        target.write_bytes(b"old")

    def half(handle):
        handle.write(b"half of it")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_file(target, half, replace=replace)
    seen: list[bytes] = []

    def refuse(temporary: str) -> None:
        seen.append(Path(temporary).read_bytes())  # the check reads the whole new content
        raise ValueError("cut short")

    with pytest.raises(ValueError, match="cut short"):
        write_file(target, lambda handle: handle.write(b"new"), replace=replace, check=refuse)
    assert seen == [b"new"]
    assert (target.read_bytes() == b"old") if replace else not target.exists()
    assert _leftovers(tmp_path) == []


def test_racing_writers_one_wins_and_the_others_are_told(tmp_path):
    target = tmp_path / "race.bin"
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def writer(number: int) -> None:
        start.wait(timeout=10)
        try:
            write_file(target, lambda handle: handle.write(bytes([number]) * 100_000))
            outcomes.append(f"wrote {number}")
        except AlreadyExistsError:
            outcomes.append("refused")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o.startswith("wrote")]
    assert len(winners) == 1 and outcomes.count("refused") == 7
    number = int(winners[0].split()[1])
    assert target.read_bytes() == bytes([number]) * 100_000  # one writer's content, whole
    assert _leftovers(tmp_path) == []


def test_relative_to_an_open_folder(tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        write_file("inside.txt", lambda handle: handle.write(b"x"), dir_fd=fd, durable=True)
        with pytest.raises(AlreadyExistsError):
            write_file("inside.txt", lambda handle: handle.write(b"y"), dir_fd=fd)
    finally:
        os.close(fd)
    assert (tmp_path / "inside.txt").read_bytes() == b"x"


def test_a_folder_is_published_whole_and_never_replaced(tmp_path):
    dest = tmp_path / "store"

    def fail_halfway(folder: Path) -> int:
        (folder / "one.dcm").write_bytes(b"1")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_folder(dest, fail_halfway)
    assert not dest.exists() and list(tmp_path.iterdir()) == []  # nothing half made, no staging
    dest.mkdir()  # an empty folder is there to be filled
    assert publish_folder(dest, lambda folder: (folder / "a.dcm").write_bytes(b"a")) == 1
    assert publish_folder(dest, lambda folder: (folder / "b.dcm").write_bytes(b"b")) is None
    assert [p.name for p in dest.iterdir()] == ["a.dcm"]


def test_racing_publishers_one_folder_wins_whole(tmp_path):
    dest = tmp_path / "store"
    start = threading.Barrier(6)
    results: list[int | None] = []

    def publisher(number: int) -> None:
        def fill(folder: Path) -> int:
            start.wait(timeout=10)  # every one has its staging folder before any renames
            for index in range(5):
                (folder / f"{index}.dcm").write_bytes(bytes([number]))
            return number

        results.append(publish_folder(dest, fill))

    threads = [threading.Thread(target=publisher, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and results.count(None) == 5
    assert {p.read_bytes() for p in dest.iterdir()} == {bytes(winners)}  # one publisher's files
    assert len(list(dest.iterdir())) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["store"]  # no staging folder left
