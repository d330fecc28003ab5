"""Keep credentials out of everything dicomlab shows, stores or logs.

A URL may carry a secret in two places: its userinfo (``http://alice:PW@host``)
and token-like query or fragment parameters (``?access_token=T``,
``&X-Goog-Signature=…``). :func:`redact_url` hides both, in a bare URL or in
any longer text (an error message, a log line, a record), and is applied
wherever a URL leaves dicomlab: reprs, HTML displays, results, provenance
records, error messages and the command line.

>>> redact_url("http://alice:PW@host/dicom-web")
'http://alice:****@host/dicom-web'
>>> redact_url("failed: GET https://h/x?access_token=ya29.abc&limit=5 (HTTP 401)")
'failed: GET https://h/x?access_token=****&limit=5 (HTTP 401)'
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

__all__ = ["MASK", "redact_url", "redact_values", "safe_cause"]

MASK = "****"
# scheme://rest, where rest runs to whitespace, a quote or an angle bracket (how URLs
# end inside reprs, messages and HTML).
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>[^\s'\"<>`]*)")
# A parameter whose name says it is a credential; the name is kept, the value hidden.
_SECRET_NAME = re.compile(r"token|secret|passw|pwd|sig|credential|key|auth|session", re.I)
_PARAM = re.compile(r"(?P<lead>[?&#;])(?P<name>[^=&#;?]+)=(?P<value>[^&#;]*)")


def _split_authority(rest: str) -> tuple[str, str]:
    """``(userinfo, remainder)`` of what follows ``scheme://`` (userinfo may be ``""``).

    The userinfo ends at the last ``@`` of the authority. A password holding an
    unencoded ``/``, ``?``, ``#`` or ``@`` would end the authority early or late
    (``alice:p/w@host``, ``alice:p@w@host``): an ``@`` in the authority, or a
    ``:`` followed by something that is not a port number, marks a userinfo,
    and it then runs to the last ``@`` (hiding too much rather than too little).
    """
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    head, colon, port = authority.rpartition(":")
    odd_port = bool(colon and head and not port.isdigit() and authority[0] != "[")
    if "@" in authority or (odd_port and "@" in rest):
        userinfo, _, remainder = rest.rpartition("@")
        return userinfo, remainder
    return "", rest


def _redact_one(match: re.Match[str]) -> str:
    userinfo, remainder = _split_authority(match["rest"])
    shown = ""
    if userinfo:
        user, colon, _ = userinfo.partition(":")
        # A user name alone may itself be a token (https://TOKEN@host): hide it too.
        shown = f"{user}:{MASK}@" if colon else f"{MASK}@"

    def param(found: re.Match[str]) -> str:
        if _SECRET_NAME.search(unquote(found["name"])) and found["value"]:
            return f"{found['lead']}{found['name']}={MASK}"
        return found[0]

    return f"{match['scheme']}://{shown}{_PARAM.sub(param, remainder)}"


def redact_url(text: str) -> str:
    """``text`` with the userinfo and token-like parameters of every URL in it hidden.

    A password becomes ``****`` (the user name stays, for telling accounts
    apart); userinfo without a password is hidden whole, since a bare user
    name is often a token. Parameters named like credentials (``access_token``,
    ``key``, ``signature``, ``X-Goog-Credential``, ``password``…) keep their
    name and lose their value. Anything that is not a URL is left alone.

    Parameters
    ----------
    text
        A URL, or any text that may contain URLs.

    Returns
    -------
    str
        The same text with the secrets replaced by ``****``.

    Examples
    --------
    >>> redact_url("postgresql://u:PW@db.example.org/lab")
    'postgresql://u:****@db.example.org/lab'
    >>> redact_url("store 'https://TOKEN@host/dicom-web' answered 401")
    "store 'https://****@host/dicom-web' answered 401"
    >>> redact_url("gs://bucket/cohort.txt")
    'gs://bucket/cohort.txt'
    """
    return _URL.sub(_redact_one, text)


def redact_values(value: Any) -> Any:
    """A copy of a JSON-like record with :func:`redact_url` applied to every string in it.

    Mappings, lists and tuples are walked (keys too); other values are kept.

    >>> redact_values({"store": "http://u:PW@h/dicom-web", "counts": [1, 2]})
    {'store': 'http://u:****@h/dicom-web', 'counts': [1, 2]}
    """
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {redact_values(k): redact_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_values(v) for v in value)
    return value


def _text(exc: BaseException) -> str:
    """What a traceback prints for ``exc`` itself: its message (or its repr)."""
    try:
        return str(exc)
    except Exception:  # a broken __str__: the traceback shows the repr instead
        return repr(exc)


def safe_cause(exc: BaseException) -> BaseException | None:
    """``exc`` if its traceback shows no secret, else ``None`` (to chain nothing).

    For ``raise Translated(...) from safe_cause(exc)``: the foreign exception
    stays attached for debugging unless its text (or that of an exception it
    chains) holds a URL credential, which a printed traceback would show.

    >>> safe_cause(ValueError("no secret here")) is not None
    True
    >>> safe_cause(ValueError("GET http://u:PW@h/x failed")) is None
    True
    """
    # The frames of a traceback show source lines, not values: only the exceptions'
    # own lines (type, message, notes), along the whole chain, can hold a secret.
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        text = "\n".join([_text(current), *map(str, getattr(current, "__notes__", ()))])
        if redact_url(text) != text:
            return None
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += getattr(current, "exceptions", ())  # the members of an exception group
    return exc
