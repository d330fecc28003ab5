"""The bucket protocol (a local folder, Cloud Storage)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Bucket"]


@runtime_checkable
class Bucket(Protocol):
    """What dicomlab needs of an object store."""

    @property
    def url(self) -> str:
        """The bucket's base URI (``file://…``, ``gs://…``)."""
        ...

    def upload_bytes(
        self, data: bytes, name: str, *, overwrite: bool = False, content_type: str = "text/plain"
    ) -> str:
        """Write an object; refuse to replace one unless ``overwrite``; return its URI."""
        ...

    def download_bytes(self, name: str) -> bytes:
        """Read an object."""
        ...

    def exists(self, name: str) -> bool:
        """Whether the object exists."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Object names under ``prefix``, sorted."""
        ...

    def storage_client(self) -> Any | None:
        """The Cloud Storage client behind a ``gs://`` bucket; ``None`` for others."""
        ...
