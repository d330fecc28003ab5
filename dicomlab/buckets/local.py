"""A local folder as a bucket (the embedded default)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from dicomlab.errors import AlreadyExistsError, NotFoundError
from dicomlab.resources import validate_object_name
from dicomlab.validation import validate_flag

__all__ = ["LocalBucket"]


class LocalBucket:
    """Objects as files under ``path``.

    Writes are atomic: an object appears whole or not at all, and an existing
    one is never replaced unless ``overwrite=True`` (checked by the file system,
    not by a check-then-write race).

    Examples
    --------
    >>> import tempfile
    >>> bucket = LocalBucket(tempfile.mkdtemp())
    >>> bucket.upload_bytes(b"/studies/1.2\\n", "cohort.txt").endswith("/cohort.txt")
    True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().resolve()

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def __repr__(self) -> str:
        return f"LocalBucket({str(self.path)!r})"

    def _target(self, name: str) -> Path:
        return self.path.joinpath(*validate_object_name(name).split("/"))

    def upload_bytes(
        self, data: bytes, name: str, *, overwrite: bool = False, content_type: str = "text/plain"
    ) -> str:
        """Write ``data`` as object ``name`` and return its ``file://`` URI."""
        overwrite = validate_flag(overwrite, "overwrite")  # "no" must not replace an object
        target = self._target(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if overwrite:
                os.replace(tmp, target)
            else:
                try:
                    os.link(tmp, target)  # fails if the target exists: no race
                except FileExistsError as exc:
                    raise AlreadyExistsError(
                        f"{target.as_uri()} already exists; pass overwrite=True to replace it "
                        "or choose another name"
                    ) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return target.as_uri()

    def download_bytes(self, name: str) -> bytes:
        target = self._target(name)
        try:
            return target.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"{target.as_uri()} does not exist") from exc

    def exists(self, name: str) -> bool:
        return self._target(name).is_file()

    def list(self, prefix: str = "") -> list[str]:
        if not self.path.is_dir():
            return []
        names = (
            p.relative_to(self.path).as_posix()
            for p in self.path.rglob("*")
            if p.is_file() and not p.name.startswith(".upload-")  # our own temporaries
        )
        return sorted(n for n in names if n.startswith(prefix))
