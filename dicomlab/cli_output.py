"""Standard output for the command line: a reader that left, an output that cannot be written.

A closed pipe (``dicomlab query … | head -1``) ends the command quietly with
status 141, the status of a command killed by SIGPIPE, as ``cat`` or ``git log``
end in the same pipe. A closed, read-only or full standard output is a failure
(status 1, one line on standard error): results that cannot be shown are never
reported as a success.
"""

from __future__ import annotations

import os
import sys

from dicomlab.redaction import redact_url

__all__ = [
    "EXIT_READER_GONE",
    "OutputError",
    "ReaderGone",
    "check_output",
    "discard_output",
    "fail",
    "flush",
    "say",
    "write",
]

EXIT_READER_GONE = 141  # 128 + SIGPIPE, what a shell reports for `cat big | head -1`


class ReaderGone(Exception):
    """The reader of standard output closed it (a broken pipe)."""


class OutputError(Exception):
    """Standard output is closed or cannot be written."""


def write(text: str) -> None:
    """Write ``text`` to standard output, telling a gone reader from an unusable output.

    On a real file descriptor the bytes go out with ``os.write`` until every
    one is written: the text layer's buffered write can drop the rest of a large
    write after a partial one to a pipe whose reader left, and report success.
    """
    stream = sys.stdout
    if stream is None:  # the process started with its standard output closed
        raise OutputError("standard output is closed")
    try:
        try:
            fd = stream.fileno()
        except (OSError, ValueError):  # not a real file (captured in tests, a notebook)
            stream.write(text)
            return
        stream.flush()
        data = text.replace("\n", os.linesep).encode(stream.encoding, stream.errors or "strict")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        raise ReaderGone from None
    except (OSError, ValueError) as exc:  # ValueError: a closed file object
        raise OutputError(f"standard output cannot be written: {exc}") from None


def say(value: object) -> None:
    """One line (or block) of output, as ``print`` would write it."""
    write(f"{value}\n")


def flush() -> None:
    """Push out what is buffered, so a failure to write is seen here and not at exit."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        raise ReaderGone from None
    except (OSError, ValueError) as exc:
        raise OutputError(f"standard output cannot be written: {exc}") from None


def check_output() -> None:
    """Refuse to start when nothing could be shown: a closed or read-only standard output."""
    if sys.stdout is None:
        raise OutputError("standard output is closed")
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return  # not a real file (captured in tests, a notebook): it is writable
    try:
        os.write(fd, b"")  # an empty write still fails on a descriptor not open for writing
    except BrokenPipeError:
        raise ReaderGone from None
    except OSError as exc:
        raise OutputError(f"standard output cannot be written: {exc.strerror}") from None


def discard_output() -> None:
    """Point file descriptor 1 at /dev/null, so the exit's own flush has nowhere to fail."""
    try:
        fd = sys.stdout.fileno() if sys.stdout is not None else -1
    except (OSError, ValueError):
        return
    if fd >= 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def fail(reason: str) -> None:
    """The one line a failure prints on standard error (URLs redacted)."""
    if sys.stderr is not None:
        print(f"dicomlab: error: {redact_url(' '.join(reason.split()))}", file=sys.stderr)
