"""A local folder as a bucket (the embedded default).

Object names stay inside the folder: every path component is opened with
``O_NOFOLLOW`` relative to its parent's file descriptor, so a symbolic link
(a folder or the object itself) can neither send a write elsewhere nor be
swapped in between a check and the write.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from dicomlab.core.resources import validate_object_name
from dicomlab.core.validation import validate_flag
from dicomlab.errors import AlreadyExistsError, InvalidIdentifierError, NotFoundError
from dicomlab.plumbing.atomic import TEMP_PREFIX, write_file

__all__ = ["LocalBucket"]

# Our own temporaries (and those older versions left after a crash): never listed.
_TEMP_PREFIXES = (TEMP_PREFIX, ".upload-")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class LocalBucket:
    """Objects as files under ``path``.

    Writes are atomic: an object appears whole or not at all, and an existing
    one is never replaced unless ``overwrite=True`` (checked by the file system,
    not by a check-then-write race). A name that leads through a symbolic link
    is refused (:class:`~dicomlab.errors.InvalidIdentifierError`), for reads and
    writes alike: objects are files of this folder and nothing else.

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

    def _parts(self, name: str) -> list[str]:
        return validate_object_name(name).split("/")

    def _link_error(self, name: str, where: str) -> InvalidIdentifierError:
        return InvalidIdentifierError(
            f"object name {name!r} leads through the symbolic link {where!r} in bucket "
            f"{self.path}: objects stay inside the bucket folder, so links are not followed; "
            "choose another name or replace the link with a folder",
            value=name,
        )

    @contextlib.contextmanager
    def _folder(self, name: str, *, create: bool) -> Iterator[int | None]:
        """A descriptor of the folder that holds object ``name`` (``None`` if it is missing).

        Each folder is opened without following a link, relative to its parent;
        with ``create`` the missing ones are made.
        """
        parts = self._parts(name)
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDONLY | _DIRECTORY)
        except FileNotFoundError:
            yield None
            return
        missing = False
        try:
            for depth, part in enumerate(parts[:-1]):
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                try:
                    child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    missing = True
                    break
                except OSError as exc:  # a link (ELOOP) or a file (ENOTDIR) on the way
                    if create or self._is_link(fd, part):
                        shown = "/".join(parts[: depth + 1])
                        raise self._refusal(name, shown, fd, part) from exc
                    missing = True  # a file where a folder would be: no such object
                    break
                os.close(fd)
                fd = child
            yield None if missing else fd
        finally:
            os.close(fd)

    @staticmethod
    def _is_link(fd: int, part: str) -> bool:
        return stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)

    def _refusal(self, name: str, shown: str, fd: int, part: str) -> InvalidIdentifierError:
        """Why ``part`` (a component of ``name``) cannot be entered as a folder."""
        if self._is_link(fd, part):
            return self._link_error(name, shown)
        return InvalidIdentifierError(
            f"object name {name!r} needs {shown!r} to be a folder, but it is an object in "
            f"bucket {self.path}; choose another name",
            value=name,
        )

    def _check_leaf(self, name: str, fd: int) -> None:
        """Refuse ``name`` if its last component is a symbolic link."""
        leaf = name.rsplit("/", 1)[-1]
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.stat(leaf, dir_fd=fd, follow_symlinks=False).st_mode):
                raise self._link_error(name, name)

    def upload_bytes(
        self, data: bytes, name: str, *, overwrite: bool = False, content_type: str = "text/plain"
    ) -> str:
        """Write ``data`` as object ``name`` and return its ``file://`` URI.

        Raises :class:`~dicomlab.errors.AlreadyExistsError` if the object exists
        and ``overwrite`` is false, and :class:`~dicomlab.errors.InvalidIdentifierError`
        if ``name`` leads through a symbolic link.
        """
        overwrite = validate_flag(overwrite, "overwrite")
        target = self.path.joinpath(*self._parts(name))
        leaf = target.name
        with self._folder(name, create=True) as fd:
            assert fd is not None  # made by create=True
            self._check_leaf(name, fd)
            try:
                write_file(leaf, lambda handle: handle.write(data), replace=overwrite, dir_fd=fd)
            except AlreadyExistsError as exc:
                raise AlreadyExistsError(
                    f"{target.as_uri()} already exists; pass overwrite=True to replace it "
                    "or choose another name"
                ) from exc.__cause__
        return target.as_uri()

    def storage_client(self) -> None:
        """``None``: a local folder has no Cloud Storage client.

        >>> LocalBucket("bucket").storage_client() is None
        True
        """
        return None

    def download_bytes(self, name: str) -> bytes:
        """Read object ``name``; :class:`~dicomlab.errors.NotFoundError` if it is missing."""
        target = self.path.joinpath(*self._parts(name))
        with self._folder(name, create=False) as fd:
            if fd is not None:
                self._check_leaf(name, fd)
                try:
                    handle = os.open(target.name, os.O_RDONLY | _NOFOLLOW, dir_fd=fd)
                except FileNotFoundError:
                    pass
                else:
                    with os.fdopen(handle, "rb") as file:
                        return file.read()
        raise NotFoundError(f"{target.as_uri()} does not exist")

    def exists(self, name: str) -> bool:
        """Whether object ``name`` is a file of the bucket."""
        with self._folder(name, create=False) as fd:
            if fd is None:
                return False
            self._check_leaf(name, fd)
            try:
                mode = os.stat(name.rsplit("/", 1)[-1], dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                return False
            return stat.S_ISREG(mode)

    def list(self, prefix: str = "") -> list[str]:
        """Names of the objects that start with ``prefix``, sorted (links are not objects)."""
        if not self.path.is_dir():
            return []
        names = []
        for folder, _, files in os.walk(self.path):  # does not descend into linked folders
            base = Path(folder)
            for file in files:
                path = base / file
                if file.startswith(_TEMP_PREFIXES) or path.is_symlink() or not path.is_file():
                    continue
                names.append(path.relative_to(self.path).as_posix())
        return sorted(n for n in names if n.startswith(prefix))
