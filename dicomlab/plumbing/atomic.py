"""Writing a file so that nobody ever sees half of it, and nothing is replaced unasked.

:func:`write_file` writes to a new temporary name beside the target (created
exclusively: two writers never share one), optionally flushes it to disk and
checks it, and only then gives it the target's name:

- ``replace=False`` links it into place, which fails when the name exists:
  an existing file is never replaced, even by a writer racing this one
  (:class:`~dicomlab.errors.AlreadyExistsError`);
- ``replace=True`` renames it over the target in one step.

A failure at any point (the writer, the check, the disk) removes the
temporary file: the target is either the old file, or the new one whole.
:func:`publish_folder` does the same for a whole folder of files.

>>> import tempfile
>>> from pathlib import Path
>>> target = Path(tempfile.mkdtemp()) / "note.txt"
>>> write_file(target, lambda handle: handle.write(b"first"))
>>> write_file(target, lambda handle: handle.write(b"second"))
Traceback (most recent call last):
...
dicomlab.errors.AlreadyExistsError: .../note.txt already exists; ...
>>> write_file(target, lambda handle: handle.write(b"second"), replace=True)
>>> target.read_bytes()
b'second'
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from dicomlab.errors import AlreadyExistsError

__all__ = ["TEMP_PREFIX", "fsync_folder", "publish_folder", "write_file"]

# Temporary files start so: hidden, and skipped by listings that know the prefix.
TEMP_PREFIX = ".tmp-"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_T = TypeVar("_T")
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)


def fsync_folder(folder: str | os.PathLike[str] | int) -> None:
    """Make a rename in ``folder`` (a path or an open folder's descriptor) durable.

    Where the platform cannot (no folder descriptors), nothing happens.
    """
    with contextlib.suppress(OSError):
        if isinstance(folder, int):
            os.fsync(folder)
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _new_temporary(name: str, dir_fd: int | None) -> tuple[int, str]:
    """An exclusively created temporary file beside ``name``: ``(handle, its name)``."""
    folder, _, leaf = name.rpartition(os.sep) if dir_fd is None else ("", "", name)
    while True:
        temporary = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(8)}-{leaf}")
        try:  # 0o600, as mkstemp makes them: the content is not shown before it is whole
            return os.open(temporary, _FLAGS, 0o600, dir_fd=dir_fd), temporary
        except FileExistsError:
            continue


def write_file(
    target: str | os.PathLike[str],
    write: Callable[[BinaryIO], object],
    *,
    replace: bool = False,
    durable: bool = False,
    check: Callable[[str], object] | None = None,
    dir_fd: int | None = None,
) -> None:
    """Write ``target`` through ``write(handle)``, whole or not at all.

    Parameters
    ----------
    target
        The file's path; with ``dir_fd``, its name inside that open folder
        (links on the way cannot redirect the write).
    write
        Writes the content to the binary handle it is given.
    replace
        Whether an existing ``target`` may be replaced; when false an existing
        one (also one a concurrent writer just made) raises
        :class:`~dicomlab.errors.AlreadyExistsError` and is left as it was.
    durable
        Flush the file and its folder to disk before returning.
    check
        Called with the temporary file's path (relative to ``dir_fd`` when
        given) once written; anything it raises stops the write.
    dir_fd
        An open folder that ``target`` is relative to.
    """
    name = os.fspath(target)
    handle, temporary = _new_temporary(name, dir_fd)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        if check is not None:
            check(temporary)
        if replace:
            # rename() replaces a link that appeared since, never what it points to.
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            try:  # link() fails if the name exists: no race can replace a file
                os.link(
                    temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False
                )
            except FileExistsError as exc:
                raise AlreadyExistsError(
                    f"{name} already exists; pass overwrite=True to replace it or choose "
                    "another name"
                ) from exc
        if durable:
            fsync_folder(dir_fd if dir_fd is not None else Path(name).parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=dir_fd)


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def publish_folder(dest: Path, fill: Callable[[Path], _T]) -> _T | None:
    """Make folder ``dest`` whole at once: ``fill`` a new folder beside it, then rename it.

    Nothing happens when ``dest`` already holds files (``None``), also when
    another writer fills it meanwhile: a folder with files is never
    replaced. A failure of ``fill`` removes the new folder: ``dest`` is never
    seen half filled. Returns what ``fill`` returned.

    >>> import tempfile
    >>> dest = Path(tempfile.mkdtemp()) / "store"
    >>> publish_folder(dest, lambda folder: (folder / "a.dcm").write_bytes(b"x"))
    1
    >>> publish_folder(dest, lambda folder: (folder / "b.dcm").write_bytes(b"yy")) is None
    True
    >>> sorted(p.name for p in dest.iterdir())
    ['a.dcm']
    """
    if _holds_files(dest):
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=TEMP_PREFIX))
    try:
        result = fill(staging)
        if dest.is_dir():
            dest.rmdir()  # empty (rmdir refuses otherwise): safe to replace
        staging.rename(dest)  # refused if another writer's folder took the name
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if _holds_files(dest):
            return None  # another writer filled it first
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result
