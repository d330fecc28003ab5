"""An on-disk cache of rendered images and frames, keyed by what was asked for.

The key is (store, study, series, instance, frame, media type, size and any
rendering options). Entries live at
``ROOT/<store hash>/<study>/<series>/<instance>/<frame>-<size>-<options hash>.<ext>``,
so deleting a study, series or instance from a store drops its entries with
one directory removal. UIDs are validated before they become path parts.
Writes are atomic (a temporary file renamed into place), so a reader never
sees half an image, and several threads or processes may share one cache.

>>> import tempfile
>>> cache = RenderCache(tempfile.mkdtemp())
>>> key = CacheKey("http://pacs/dicom-web", ("1.2", "1.2.3", "1.2.3.4"), 1, "image/jpeg", 64)
>>> cache.get(key) is None
True
>>> cache.put(key, b"\\xff\\xd8jpeg")
>>> cache.get(key)
b'\\xff\\xd8jpeg'
>>> cache.discard("http://pacs/dicom-web", ("1.2",))
>>> cache.get(key) is None
True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomlab.uids import validate_uid

__all__ = ["CacheKey", "RenderCache"]

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/octet-stream": "bin"}


def _digest(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class CacheKey:
    """What identifies one cached rendering or frame."""

    store: str
    uids: tuple[str, ...]
    frame: int
    media_type: str
    size: int | None
    options: tuple[tuple[str, Any], ...] = field(default=())

    def parts(self) -> tuple[str, ...]:
        """The relative path of the entry, as parts (UIDs validated first)."""
        for uid in self.uids:
            validate_uid(uid)
        options = _digest(json.dumps(self.options, sort_keys=True, default=str), 8)
        extension = _EXTENSIONS.get(self.media_type, _digest(self.media_type, 8))
        leaf = f"{self.frame}-{self.size or 'full'}-{options}.{extension}"
        return (_digest(self.store), *self.uids, leaf)


class RenderCache:
    """Rendered images and frames under ``root`` (created on first write).

    Parameters
    ----------
    root
        The cache folder; safe to delete at any time.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"RenderCache({str(self.root)!r})"

    def path(self, key: CacheKey) -> Path:
        """Where ``key``'s entry is (or would be) stored."""
        return self.root.joinpath(*key.parts())

    def get(self, key: CacheKey) -> bytes | None:
        """The cached bytes, or ``None``."""
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, key: CacheKey, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (a concurrent writer of the same key wins)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def discard(self, store: str, uids: tuple[str, ...]) -> None:
        """Forget every entry of a study, series or instance (``uids`` from the study down)."""
        for uid in uids:
            validate_uid(uid)
        shutil.rmtree(self.root.joinpath(_digest(store), *uids), ignore_errors=True)
