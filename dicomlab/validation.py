"""Checks shared by the public API's keyword arguments (pure, no I/O)."""

from __future__ import annotations

from dicomlab.errors import InvalidRequestError

__all__ = ["validate_flag"]


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
