"""A DuckDB warehouse file's failures as dicomlab errors naming the file.

A folder or a file that is not a DuckDB database is refused before DuckDB
opens it (:class:`~dicomlab.errors.UnsupportedBackendError`, the file left as
it is). Another process holding the file's lock, a read-only folder and a full
disk become :class:`~dicomlab.errors.LocalFileError` (an ``OSError`` with
``errno`` and ``filename``); Ctrl-C, which DuckDB's Python client turns into a
``RuntimeError``, is a ``KeyboardInterrupt`` again.
"""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from dicomlab.errors import DicomlabError, LocalFileError, UnsupportedBackendError

__all__ = ["check_file", "file_error", "translated"]

# Every DuckDB database file carries these bytes at offset 8 (its header's magic).
_MAGIC, _MAGIC_AT = b"DUCK", 8
# DuckDB's Python client turns Ctrl-C during a statement into this plain RuntimeError,
# and gives no errno for I/O failures: its messages are all there is to tell them apart.
_INTERRUPTED = ("Query interrupted", "INTERRUPT Error")
_LOCKED = re.compile(r"conflicting lock", re.IGNORECASE)
_FULL = re.compile(r"no space left on device", re.IGNORECASE)
_DENIED = re.compile(r"permission denied", re.IGNORECASE)
_READ_ONLY = re.compile(r"read-only file system", re.IGNORECASE)


def check_file(path: Path) -> None:
    """Refuse a warehouse path that is a folder, or a file that is not a DuckDB database."""
    if path.is_dir():
        raise UnsupportedBackendError(
            f"warehouse {str(path)!r} is a folder, not a DuckDB file; give a file path "
            f"such as {str(path / 'warehouse.duckdb')!r}"
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(_MAGIC_AT + len(_MAGIC))
    except FileNotFoundError:
        return  # DuckDB creates it
    except OSError as exc:
        raise file_error(str(path), "opening", exc.errno, exc.strerror or str(exc)) from exc
    if head[_MAGIC_AT:] != _MAGIC:
        raise UnsupportedBackendError(
            f"warehouse {str(path)!r} exists but is not a DuckDB database file "
            f"(it starts with {head[:16]!r}); give another path, or move that file away"
        )


def file_error(path: str, doing: str, code: int | None, detail: str) -> LocalFileError:
    """The error for a warehouse file that cannot be opened or written."""
    hints = {
        errno.ENOSPC: "the disk is full: free some space, or connect to a warehouse elsewhere",
        errno.EACCES: "its folder is not writable: connect to a warehouse in a writable folder",
        errno.EROFS: "its folder is read-only: connect to a warehouse in a writable folder",
        errno.EAGAIN: "another process holds it open: close that notebook or script "
        "(or its connection), or use another warehouse file",
    }
    hint = hints.get(code or 0, "check the file and its folder")
    return LocalFileError(
        f"{doing} the DuckDB warehouse {path!r} failed: {hint} ({detail})",
        errno=code,
        filename=path,
    )


def _errno_of(exc: BaseException) -> int | None:
    """The errno a DuckDB failure stands for, when its message tells (DuckDB gives no errno)."""
    text = str(exc)
    for pattern, code in (
        (_LOCKED, errno.EAGAIN),
        (_FULL, errno.ENOSPC),
        (_DENIED, errno.EACCES),
        (_READ_ONLY, errno.EROFS),
    ):
        if pattern.search(text):
            return code
    return None


@contextlib.contextmanager
def translated(path: str, doing: str, note: str = "") -> Iterator[None]:
    """DuckDB's failures inside the block as dicomlab errors naming ``path``.

    ``doing`` completes "… the DuckDB warehouse PATH failed" (``"opening"``);
    ``note`` follows the message (``", the table is unchanged"``).
    """
    try:
        yield
    except duckdb.InterruptException as exc:
        raise KeyboardInterrupt(f"{doing} the DuckDB warehouse {path!r} was interrupted") from exc
    except duckdb.Error as exc:
        code = _errno_of(exc)
        if code is None and not isinstance(exc, duckdb.IOException):
            raise DicomlabError(
                f"{doing} the DuckDB warehouse {path!r} failed{note}: {exc}"
            ) from exc
        raise file_error(path, doing, code, f"{exc}{note}") from exc
    except RuntimeError as exc:
        if str(exc).startswith(_INTERRUPTED):
            raise KeyboardInterrupt(
                f"{doing} the DuckDB warehouse {path!r} was interrupted{note}"
            ) from exc
        raise
