"""An on-disk cache of rendered images and frames, keyed by what was asked for.

The key is (store, study, series, instance, frame, media type, size and any
rendering options). Entries live at
``ROOT/<store hash>/<study>/<series>/<instance>_<frame>-<size>-<options hash>.<ext>``
(one folder per series), so deleting a study or series from a store drops its
entries with one directory removal, and an instance its files. UIDs are
validated before they become path parts. Writes are atomic (a temporary file
renamed into place), so a reader never sees half an image, and several threads
or processes may share one cache. Thumbnails are written in a background thread
(:meth:`RenderCache.put_soon`): a grid does not wait on the disk.

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
import functools
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomlab.core.uids import validate_uid
from dicomlab.plumbing.atomic import write_file

logger = logging.getLogger(__name__)

__all__ = ["CacheKey", "RenderCache"]

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/octet-stream": "bin"}


@functools.lru_cache(maxsize=1024)
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
        # The last UID starts the file name: one folder per series, not per instance.
        *folders, last = self.uids
        leaf = f"{last}_{self.frame}-{self.size or 'full'}-{options}.{extension}"
        return (_digest(self.store), *folders, leaf)


@functools.lru_cache(maxsize=4096)
def _parts(key: CacheKey) -> tuple[str, ...]:
    return key.parts()


class RenderCache:
    """Rendered images and frames under ``root`` (created on first write).

    Parameters
    ----------
    root
        The cache folder; safe to delete at any time.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self._lock = threading.Lock()
        self._pending: dict[Path, bytes] = {}  # written soon, already readable
        self._writer: ThreadPoolExecutor | None = None
        self._holds = 0
        self._held: list[tuple[Path, bytes]] = []

    def __repr__(self) -> str:
        return f"RenderCache({str(self.root)!r})"

    def path(self, key: CacheKey) -> Path:
        """Where ``key``'s entry is (or would be) stored."""
        try:
            return self.root.joinpath(*_parts(key))  # a page asks twice per tile: get, put
        except TypeError:  # options that cannot be hashed
            return self.root.joinpath(*key.parts())

    def get(self, key: CacheKey) -> bytes | None:
        """The cached bytes, or ``None``."""
        target = self.path(key)
        with self._lock:
            pending = self._pending.get(target)
        if pending is not None:
            return pending
        try:
            return target.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, key: CacheKey, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (a concurrent writer of the same key wins)."""
        self._write(self.path(key), data)

    def put_soon(self, key: CacheKey, data: bytes) -> None:
        """:meth:`put` in a background thread: the caller does not wait on the disk.

        The entry is readable through :meth:`get` at once; :meth:`flush` waits
        for the writes (the interpreter waits for them at exit too). A write
        that fails is logged, never raised: the entry is only a cache.
        """
        target = self.path(key)
        with self._lock:
            self._pending[target] = data
            if self._holds:
                self._held.append((target, data))
                return
        self._submit([(target, data)])

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Keep :meth:`put_soon` writes back until the block ends (a page is on screen).

        >>> import tempfile
        >>> cache = RenderCache(tempfile.mkdtemp())
        >>> key = CacheKey("http://pacs/dicom-web", ("1.2", "1.2.3", "1.2.3.4"), 1, "image/png", 64)
        >>> with cache.hold():
        ...     cache.put_soon(key, b"png")
        ...     cache.path(key).exists(), cache.get(key)
        (False, b'png')
        >>> cache.flush(); cache.path(key).exists()
        True
        """
        with self._lock:
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                last = not self._holds
            if last:
                self._release()

    def _release(self) -> None:
        """Hand the held writes to the writer thread."""
        with self._lock:
            held, self._held = self._held, []
        if held:
            self._submit(held)

    def _submit(self, entries: list[tuple[Path, bytes]]) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="dicomlab-cache")
            writer = self._writer
        writer.submit(self._write_pending, entries)

    def flush(self) -> None:
        """Wait until every :meth:`put_soon` write is on disk (held ones included)."""
        self._release()
        with self._lock:
            writer = self._writer
        if writer is not None:
            writer.submit(lambda: None).result()  # one thread: after every earlier write

    def _write_pending(self, entries: list[tuple[Path, bytes]]) -> None:
        for target, data in entries:
            try:
                self._write(target, data)
            except OSError as exc:
                logger.warning("render cache: could not write %s: %s", target, exc)
            finally:
                with self._lock:
                    if self._pending.get(target) is data:
                        del self._pending[target]

    def _write(self, target: Path, data: bytes) -> None:
        # Replaced whole: a reader sees the old entry or the new one, never half of one.
        try:
            write_file(target, lambda handle: handle.write(data), replace=True)
        except FileNotFoundError:  # a new folder (or the cache was deleted meanwhile)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_file(target, lambda handle: handle.write(data), replace=True)

    def discard(self, store: str, uids: tuple[str, ...]) -> None:
        """Forget every entry of a study, series or instance (``uids`` from the study down)."""
        for uid in uids:
            validate_uid(uid)
        self.flush()  # no write still on its way may bring an entry back
        folder = self.root.joinpath(_digest(store), *uids)
        shutil.rmtree(folder, ignore_errors=True)
        if len(uids) > 2:  # an instance: its entries are files of its series' folder
            for entry in folder.parent.glob(f"{uids[-1]}_*"):  # "_": never in a UID
                entry.unlink(missing_ok=True)
