"""Reading a DICOMweb server's WADO-RS instance answer strictly.

dicomweb-client reads a multipart body leniently: a body that stops before
its closing boundary yields what came, cut short, and a part that is not
DICOM raises pydicom's ``InvalidDicomError`` (an HTML error page, a
``ValueError``). Here every answer that is not exactly one whole DICOM part
becomes a :class:`~dicomlab.errors.RemoteError` naming the resource, the
status, the content type and the first bytes that came back.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from dicomlab.errors import InvalidRequestError, RemoteError
from dicomlab.stores.integrity import check_complete

if TYPE_CHECKING:
    import requests
    from pydicom import Dataset

__all__ = [
    "INSTANCE_ACCEPT",
    "check_image",
    "frames_accept",
    "frames_from_answer",
    "instance_from_answer",
    "split_multipart",
]

SERVICE = "DICOMweb"
# One media type only: Orthanc refuses an Accept listing several.
INSTANCE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
# How much of an unexpected body an error message quotes.
QUOTED_BYTES = 64
# A media type as a header may carry it: type/subtype, no parameters, quotes or spaces.
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[\w.+*-]+")


def frames_accept(media_type: str) -> str:
    """The ``Accept`` header for frames of ``media_type`` (checked first).

    >>> frames_accept("application/octet-stream")
    'multipart/related; type="application/octet-stream"'
    """
    if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
        raise InvalidRequestError(
            f"media type {media_type!r} is not of the form type/subtype "
            "(e.g. 'application/octet-stream' or 'image/jpeg')",
            value=media_type,
        )
    return f'multipart/related; type="{media_type}"'


def _parameters(content_type: str) -> tuple[str, dict[str, str]]:
    """The media type (lower case) and its parameters.

    >>> _parameters('multipart/related; type="application/dicom"; boundary=ab')
    ('multipart/related', {'type': 'application/dicom', 'boundary': 'ab'})
    """
    media_type, *rest = (part.strip() for part in content_type.split(";"))
    parameters = {}
    for item in rest:
        name, _, value = item.partition("=")
        parameters[name.strip().lower()] = value.strip().strip('"')
    return media_type.lower(), parameters


def split_multipart(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """The ``(content type, content)`` of each part of a ``multipart/related`` body.

    Raises ``ValueError`` saying what is wrong: another media type, no
    boundary, or a body that ends before its closing boundary (cut short).

    >>> split_multipart(b"--b\\r\\nContent-Type: text/plain\\r\\n\\r\\nhi\\r\\n--b--",
    ...                 "multipart/related; boundary=b")
    [('text/plain', b'hi')]
    """
    media_type, parameters = _parameters(content_type)
    if media_type != "multipart/related":
        raise ValueError(f"content type {content_type!r}, not multipart/related")
    boundary = parameters.get("boundary", "").encode()
    if not boundary:
        raise ValueError(f"content type {content_type!r} names no boundary")
    delimiter = b"--" + boundary
    start = body.find(delimiter)
    if start < 0 or (start and body[start - 2 : start] != b"\r\n"):
        raise ValueError(f"the body has no part (no boundary {boundary.decode()!r})")
    parts: list[tuple[str, bytes]] = []
    position = start + len(delimiter)
    while not body.startswith(b"--", position):
        end = body.find(b"\r\n" + delimiter, position)
        if end < 0:
            raise ValueError(
                f"the body ends before its closing boundary after {len(body)} bytes: cut short"
            )
        head, _, content = body[position:end].partition(b"\r\n\r\n")
        part_type = ""
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-type":
                part_type = value.strip().decode("latin-1")
        parts.append((part_type, content))
        position = end + 2 + len(delimiter)
    return parts


def _failure(response: requests.Response, resource: str, what: str, data: bytes) -> RemoteError:
    content_type = response.headers.get("Content-Type", "")
    return RemoteError(
        f"the DICOMweb server answered {resource} (HTTP {response.status_code}, "
        f"Content-Type {content_type!r}) with {what}; it began {data[:QUOTED_BYTES]!r}. "
        "Check the URL and any proxy in between, then fetch it again",
        service=SERVICE,
        resource=resource,
        status=response.status_code,
    )


def instance_from_answer(response: requests.Response, resource: str) -> Dataset:
    """The one DICOM instance of a WADO-RS answer, read whole.

    Raises
    ------
    RemoteError
        The body is not multipart, is cut short, holds no part or several, or
        its part is not DICOM.
    DicomReadError
        The DICOM data in the part ends early (:func:`~dicomlab.stores.integrity.check_complete`).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    body = response.content
    try:
        parts = split_multipart(body, response.headers.get("Content-Type", ""))
    except ValueError as exc:
        raise _failure(response, resource, f"no whole multipart body ({exc})", body) from exc
    if len(parts) != 1:
        raise _failure(response, resource, f"{len(parts)} parts instead of one instance", body)
    part_type, content = parts[0]
    try:
        dataset = pydicom.dcmread(io.BytesIO(content))
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        what = f"a part of type {part_type!r} that is not DICOM ({type(exc).__name__})"
        raise _failure(response, resource, what, content) from exc
    check_complete(dataset, f"the DICOMweb answer for {resource}", len(content))
    return dataset


def frames_from_answer(response: requests.Response, resource: str, count: int) -> list[bytes]:
    """The ``count`` frames of a WADO-RS frames answer, each a whole part.

    Raises
    ------
    RemoteError
        The body is not multipart, is cut short, or holds another number of parts.
    """
    body = response.content
    try:
        parts = split_multipart(body, response.headers.get("Content-Type", ""))
    except ValueError as exc:
        raise _failure(response, resource, f"no whole multipart body ({exc})", body) from exc
    if len(parts) != count:
        raise _failure(response, resource, f"{len(parts)} parts for {count} frames", body)
    return [content for _, content in parts]


def check_image(data: bytes, media_type: str, resource: str) -> None:
    """Refuse a rendered image that does not decode whole (JPEG, PNG…; others pass).

    Raises
    ------
    RemoteError
        Naming the resource, the media type and the first bytes.
    """
    from PIL import Image, UnidentifiedImageError

    if not media_type.startswith("image/"):
        return
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RemoteError(
            f"the DICOMweb server answered {resource} with a {media_type!r} image that does "
            f"not decode ({type(exc).__name__}: {exc}; {len(data)} bytes, beginning "
            f"{data[:QUOTED_BYTES]!r}); fetch it again",
            service=SERVICE,
            resource=resource,
            status=200,
        ) from exc
