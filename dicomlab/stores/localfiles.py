"""Opening a folder store's files with care: regular files only, never waiting on one.

A store folder may hold things that are not files: a FIFO (opening it waits
for a writer that never comes), a link to ``/dev/zero`` (reading it never
ends), a socket, a folder named ``x.dcm``. :func:`open_regular` opens without
waiting and refuses anything but a regular file, so nothing hangs and nothing
is read without end. Whether a file could be opened at all (its permissions,
a broken link, an I/O error) is a different matter from whether it holds
DICOM: the first raises :class:`OSError`, the second is for the reader to say.

:data:`WHOLE_FILE_BYTES` is the size up to which a file is read whole in one
call (the common case, and the fastest); larger files are read only up to the
end of their header.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from dicomlab.errors import DicomReadError

__all__ = [
    "WHOLE_FILE_BYTES",
    "describe_mode",
    "open_regular",
    "read_start",
    "remove_emptied_folders",
]

#: Files up to this size are read whole; larger ones only as far as their header goes.
WHOLE_FILE_BYTES = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer
# (it has no effect on reads of a regular file). O_NOCTTY: a terminal device
# never becomes this process's controlling terminal.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


def describe_mode(mode: int) -> str:
    """What kind of directory entry a ``st_mode`` is, in words.

    >>> describe_mode(stat.S_IFIFO)
    'a FIFO (named pipe)'
    """
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _not_regular(path: str | os.PathLike[str], mode: int) -> DicomReadError:
    return DicomReadError(
        f"{os.fspath(path)!r} is {describe_mode(mode)}, not a regular file: skipped",
        path=os.fspath(path),
    )


def read_start(path: str | os.PathLike[str], limit: int) -> tuple[bytes, int]:
    """The first ``limit`` bytes of a regular file (all of a smaller one), and its size.

    The export's common case, in as few system calls as there can be (open,
    stat, one read, close). Raises as :func:`open_regular` does.

    >>> read_start("/dev/null", 10)
    Traceback (most recent call last):
    ...
    dicomlab.errors.DicomReadError: '/dev/null' is a character device, not a regular file: skipped
    """
    fd = os.open(path, _FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        wanted = min(info.st_size, limit)
        data = os.read(fd, wanted)
        while len(data) < wanted:  # a short read (a network file system, a signal)
            more = os.read(fd, wanted - len(data))
            if not more:  # the file shrank meanwhile
                break
            data += more
        return data, info.st_size
    finally:
        os.close(fd)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open ``path`` for reading in binary mode, refusing anything but a regular file.

    Links are followed; what counts is what they point to.

    Raises
    ------
    OSError
        The file could not be opened (permissions, a broken link, an I/O
        error): it may well be a good instance.
    DicomReadError
        The entry is a FIFO, a device, a socket or a folder: not a DICOM file,
        and never read (the message names the path and what it is).

    Examples
    --------
    >>> open_regular("/dev/zero")
    Traceback (most recent call last):
    ...
    dicomlab.errors.DicomReadError: '/dev/zero' is a character device, not a regular file: skipped
    """

    def opener(name: str, flags: int) -> int:
        fd = os.open(name, _FLAGS)
        try:
            mode = os.fstat(fd).st_mode
        except BaseException:
            os.close(fd)
            raise
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise _not_regular(path, mode)
        return fd

    # The handle keeps the path as its name: pydicom re-opens a file by that name
    # to read a value it deferred.
    return open(path, "rb", opener=opener)  # the caller closes it


def remove_emptied_folders(folders: Iterable[Path], root: Path) -> None:
    """Remove each of ``folders``, then its parents, while empty; never ``root`` or above it.

    ``rmdir`` removes only an empty folder, so a folder holding anything (a
    file, another folder) stays, and so does every folder above it.
    """
    top = Path(root).resolve()
    for folder in sorted(set(folders), key=lambda p: len(p.parts), reverse=True):
        current = Path(folder).resolve()
        while top in current.parents:  # strictly below the root (a link out stops here)
            try:
                current.rmdir()
            except FileNotFoundError:
                pass  # removed already, with a deeper folder of this delete
            except OSError:
                break  # not empty (or not ours to remove): it and its parents stay
            current = current.parent
