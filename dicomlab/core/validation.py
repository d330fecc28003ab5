"""Checks shared by the public API's keyword arguments (pure, no I/O)."""

from __future__ import annotations

import numbers

from dicomlab.errors import InvalidIdentifierError, InvalidRequestError

__all__ = [
    "WRITE_DISPOSITIONS",
    "validate_choice",
    "validate_count",
    "validate_flag",
    "validate_frame",
    "validate_write_disposition",
]

# The Healthcare API's and BigQuery's write dispositions (WRITE_DISPOSITION_UNSPECIFIED
# means WRITE_EMPTY there; we ask callers to say what they mean).
WRITE_DISPOSITIONS = ("WRITE_EMPTY", "WRITE_TRUNCATE", "WRITE_APPEND")


def validate_choice(value: object, choices: tuple[str, ...], what: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming ``what`` and the choices.

    >>> validate_choice("series", ("series", "instance"), "review level")
    'series'
    """
    if value not in choices:
        raise InvalidIdentifierError(
            f"{what} {value!r} is not one of {', '.join(choices)}", value=value
        )
    assert isinstance(value, str)
    return value


def validate_write_disposition(value: object) -> str:
    """Return ``value`` if it is a write disposition, else raise.

    >>> validate_write_disposition("WRITE_APPEND")
    'WRITE_APPEND'
    """
    return validate_choice(value, WRITE_DISPOSITIONS, "write_disposition")


def validate_flag(value: object, name: str) -> bool:
    """Return ``value`` if it is ``True`` or ``False``, else raise.

    Flags such as ``overwrite`` guard what may be replaced: a truthy
    stand-in (``"no"``, ``1``, ``[0]``) must not count as consent, so only a
    real ``bool`` is accepted.

    Parameters
    ----------
    value
        The argument as given.
    name
        The parameter's name, for the message.

    Raises
    ------
    InvalidRequestError
        ``value`` is not a ``bool``; the message names it.

    Examples
    --------
    >>> validate_flag(False, "overwrite")
    False
    >>> validate_flag("no", "overwrite")
    Traceback (most recent call last):
    ...
    dicomlab.errors.InvalidRequestError: overwrite='no' is not a flag: pass True or False
    """
    if not isinstance(value, bool):
        raise InvalidRequestError(
            f"{name}={value!r} is not a flag: pass True or False", value=value
        )
    return value


def validate_count(value: object, name: str, *, minimum: int = 1, hint: str = "") -> int:
    """Return ``value`` if it is a whole number (not a bool) of at least ``minimum``.

    Python's own comparisons turn ``size="64"`` into a bare ``TypeError`` deep
    in a call, and ``limit=2.5`` into a page of two and a half tiles.

    Parameters
    ----------
    value
        The argument as given.
    name
        The parameter's name, for the message.
    minimum
        The smallest number allowed.
    hint
        What the argument means, added to the message.

    Raises
    ------
    InvalidRequestError
        ``value`` is not an integer of at least ``minimum``; the message names it.

    Examples
    --------
    >>> validate_count(64, "size")
    64
    >>> validate_count("64", "size")
    Traceback (most recent call last):
    ...
    dicomlab.errors.InvalidRequestError: size='64' is not a whole number of at least 1
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        detail = f"; {hint}" if hint else ""
        raise InvalidRequestError(
            f"{name}={value!r} is not a whole number of at least {minimum}{detail}", value=value
        )
    return int(value)


def validate_frame(value: object, name: str) -> None:
    """Refuse anything but a pandas DataFrame, before its columns are looked at.

    A list of UIDs or ``None`` would otherwise end in an ``AttributeError``
    about ``.columns`` far from the call.

    Examples
    --------
    >>> validate_frame(["1.2.3"], "hits")
    Traceback (most recent call last):
    ...
    dicomlab.errors.InvalidRequestError: hits must be a pandas DataFrame ...
    """
    import pandas as pd  # heavy; loaded already wherever a DataFrame is passed

    if not isinstance(value, pd.DataFrame):
        raise InvalidRequestError(
            f"{name} must be a pandas DataFrame with StudyInstanceUID (and SeriesInstanceUID, "
            f"SOPInstanceUID) columns, such as a query's or search's result; not "
            f"{type(value).__name__}",
            value=value,
        )
