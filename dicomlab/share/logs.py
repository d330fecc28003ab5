"""dicomlab's log lines and warnings, rewritten through every live share mode."""

from __future__ import annotations

import logging
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomlab.share.mode import ShareMode

__all__ = ["register"]

_ACTIVE: weakref.WeakSet[ShareMode] = weakref.WeakSet()


def register(mode: ShareMode) -> None:
    """Scrub dicomlab's log records with ``mode`` while it is alive."""
    _ACTIVE.add(mode)
    _install_log_filter()
    _install_warning_filter()


_RECORD_FACTORY: Callable[..., logging.LogRecord] | None = None


def _install_log_filter() -> None:
    """Rewrite every dicomlab log record through the live share modes, once per process.

    A record factory sees the records of loggers made later too (filters on a
    logger reach neither its children nor loggers created after them); records
    of other libraries are left alone.
    """
    global _RECORD_FACTORY
    if _RECORD_FACTORY is not None:
        return
    previous = _RECORD_FACTORY = logging.getLogRecordFactory()

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        modes = list(_ACTIVE)
        if modes and record.name.split(".")[0] == "dicomlab":
            try:
                text = record.getMessage()
            except Exception:  # a bad format is logging's to report when it emits, not ours
                return record
            for mode in modes:
                text = mode.pseudo.scrub(text)
            record.msg, record.args = text, ()
        return record

    logging.setLogRecordFactory(make)


def _scrubbed(text: str) -> str:
    for mode in list(_ACTIVE):
        text = mode.pseudo.scrub(text)
    return text


def _show(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Show a dicomlab warning with its text de-identified, then as Python would."""
    if _ACTIVE and category.__module__.split(".")[0] == "dicomlab":
        message = category(_scrubbed(str(message)))
    _SHOWN_BEFORE(message, category, filename, lineno, file, line)


_SHOWN_BEFORE: Callable[..., None] = warnings.showwarning


def _install_warning_filter() -> None:
    """Show dicomlab's warnings (files skipped, partial failures…) through the share modes.

    Installed again whenever something put another ``warnings.showwarning``
    in place (``warnings.catch_warnings`` restores the one it found).
    """
    global _SHOWN_BEFORE
    if warnings.showwarning is not _show:
        _SHOWN_BEFORE = warnings.showwarning
        warnings.showwarning = _show
