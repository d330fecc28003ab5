"""DICOM unique identifiers (PS3.5 §9.1): validation without I/O.

A UID is digits and dots, at most 64 characters, with no empty component and
no component that starts with ``0`` unless it is exactly ``0``.

>>> is_valid_uid("1.2.840.10008.1.2.1")
True
>>> is_valid_uid("1.02.3")
False
>>> validate_uid("1.2.3 ")
Traceback (most recent call last):
...
dicomlab.errors.InvalidIdentifierError: ...
"""

from __future__ import annotations

import re

from dicomlab.errors import InvalidIdentifierError

__all__ = ["MAX_UID_LENGTH", "UID_PATTERN", "is_valid_uid", "uid_problem", "validate_uid"]

MAX_UID_LENGTH = 64
UID_PATTERN = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
# Real-world UIDs break the leading-zero rule; the permissive form keeps the rest.
PERMISSIVE_UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")


def uid_problem(value: object, *, permissive: bool = False) -> str | None:
    """Say what is wrong with ``value`` as a UID, or return ``None`` if it is valid.

    Parameters
    ----------
    value
        The candidate UID.
    permissive
        Accept components with leading zeros (common in real-world data).

    Examples
    --------
    >>> uid_problem("1.2.3") is None
    True
    >>> uid_problem("1..2")
    'has an empty component'
    """
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if not value:
        return "is empty"
    if len(value) > MAX_UID_LENGTH:
        return f"is {len(value)} characters long (at most {MAX_UID_LENGTH})"
    if PERMISSIVE_UID_PATTERN.fullmatch(value) is None:
        if "" in value.split("."):
            return "has an empty component"
        bad = sorted({c for c in value if c not in "0123456789."})
        return f"contains characters other than digits and dots: {''.join(bad)!r}"
    if not permissive and UID_PATTERN.fullmatch(value) is None:
        return "has a component with a leading zero"
    return None


def is_valid_uid(value: object, *, permissive: bool = False) -> bool:
    """Return whether ``value`` is a syntactically valid DICOM UID.

    >>> is_valid_uid("1.2.3"), is_valid_uid("1.2.03"), is_valid_uid("1.2.03", permissive=True)
    (True, False, True)
    """
    return uid_problem(value, permissive=permissive) is None


def validate_uid(value: object, *, what: str = "UID", permissive: bool = False) -> str:
    """Return ``value`` if it is a valid UID, else raise :class:`InvalidIdentifierError`.

    >>> validate_uid("1.2.840.10008.5.1.4.1.1.2")
    '1.2.840.10008.5.1.4.1.1.2'
    """
    problem = uid_problem(value, permissive=permissive)
    if problem is not None:
        raise InvalidIdentifierError(
            f"{what} {value!r} {problem}; a UID is digits and dots, at most 64 characters",
            value=value,
        )
    assert isinstance(value, str)
    return value
