"""A DICOMweb base URL, split from the credentials a user may have written into it.

``http://alice:PW@host/dicom-web`` is accepted as a store URL, but the
password must never be kept, shown or sent in a URL: :func:`split_store_url`
returns the URL without it and the ``(user, password)`` pair for HTTP Basic
authentication, which travels in a header.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from dicomlab.errors import InvalidResourceError, UnsupportedBackendError
from dicomlab.redaction import redact_url

__all__ = ["split_store_url"]


def split_store_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """A DICOMweb base URL without its userinfo, and the ``(user, password)`` it held.

    The credentials are percent-decoded, ready for HTTP Basic authentication,
    so they travel in a header and never in a URL that could be shown. A
    query string or fragment is refused: a base URL takes none, and a token
    there would be sent (and logged) with every request.

    Raises
    ------
    UnsupportedBackendError
        The URL names no server (``"http://"``).
    InvalidResourceError
        The URL has a query or fragment, or a userinfo that cannot be parsed
        (e.g. a password with an unencoded ``/``); the message shows the URL
        redacted.

    Examples
    --------
    >>> split_store_url("http://alice:p%40ss@127.0.0.1:8042/dicom-web")
    ('http://127.0.0.1:8042/dicom-web', ('alice', 'p@ss'))
    >>> split_store_url("http://127.0.0.1:8042/dicom-web")
    ('http://127.0.0.1:8042/dicom-web', None)
    """
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed IPv6 address
        host = None
    if not host:
        raise UnsupportedBackendError(
            f"store {shown!r} has no server name; a DICOMweb base URL looks like "
            "http://HOST:PORT/dicom-web"
        )
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise InvalidResourceError(
            f"store URL {shown!r} has a query string or fragment, which a DICOMweb base URL "
            "never takes (and a token there would be sent and logged with every request); "
            "drop it, and pass credentials as DICOMwebStore(url, headers={'Authorization': …}) "
            "or as user:password@ in the URL",
            value=shown,
        )
    userinfo, at, host = parts.netloc.rpartition("@")
    clean = urlunsplit((parts.scheme, host, parts.path, "", ""))
    if "@" in clean or redact_url(clean) != clean:  # the userinfo did not parse
        raise InvalidResourceError(
            f"store URL {shown!r} has a user name or password that does not parse; "
            "percent-encode '/', '?', '#' and '@' in it (e.g. '/' as %2F)",
            value=shown,
        )
    if not at:
        return clean, None
    user, _, password = userinfo.partition(":")
    return clean, (unquote(user), unquote(password))
