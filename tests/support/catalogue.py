"""What the bad-input catalogues share: snapshots, the message check, a client left unused.

The catalogues (``tests/integration/*/test_bad_*.py``) keep one table per kind
of input and one row per case. Every case checks three things: the exact
dicomlab error type, that the message names the bad value (:func:`assert_names`)
and that nothing was written or overwritten (:func:`snapshot` of a bucket or
store folder before and after, a warehouse table, or a :class:`Tripwire` client
that must never be called). Bad DICOM files and malformed server answers are
the exception: an export reports them as failures (or keeps the value in
``OtherElements``) and goes on.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["TABLE", "UID_COLUMNS", "Tripwire", "assert_names", "snapshot", "two_good_files"]

TABLE = "dicom_metadata"
UID_COLUMNS = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden ones too) with its bytes; ``{}`` if there is no ``root``.

    Symbolic links are not followed, so a link out of ``root`` never puts
    another folder's files in the snapshot.
    """
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def assert_names(exc: BaseException, value: object) -> None:
    """The message names the bad value: a string by its repr, anything else by repr or text."""
    message = str(exc)
    names = [repr(value)] if isinstance(value, str) else [repr(value), str(value)]
    assert any(name in message for name in names), message


class Tripwire:
    """A client double that must never be used: a bad input fails before any call."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        raise AssertionError(f"the client was used ({name}) for a bad input")


def two_good_files(tmp_path: Path) -> Path:
    """``tmp_path/store`` holding copies of the first two sample files (made if missing)."""
    from dicomlab.samples.sample import sample_files

    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    for index, path in enumerate(sample_files()[:2]):
        shutil.copy(path, store / f"good-{index}.dcm")
    return store
