"""Checks of plain arguments (counts, sizes) shared by the public calls.

Python's own comparisons turn ``size="64"`` into a bare ``TypeError`` deep in
a call, and ``limit=2.5`` into a page of two and a half tiles; these checks
refuse them at the door, naming the argument and the value.
"""

from __future__ import annotations

from dicomlab.errors import InvalidRequestError

__all__ = ["check_count"]


def check_count(name: str, value: object, *, minimum: int = 1, hint: str = "") -> int:
    """``value`` if it is a whole number (not a bool) of at least ``minimum``.

    Parameters
    ----------
    name
        The argument's name, as the caller wrote it.
    value
        What the caller passed.
    minimum
        The smallest number allowed.
    hint
        What the argument means, added to the message.

    Raises
    ------
    InvalidRequestError
        ``value`` is not an ``int`` of at least ``minimum``; the message names it.

    Examples
    --------
    >>> check_count("size", 64)
    64
    >>> check_count("size", "64")
    Traceback (most recent call last):
    ...
    dicomlab.errors.InvalidRequestError: size='64' is not a whole number of at least 1
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        detail = f"; {hint}" if hint else ""
        raise InvalidRequestError(
            f"{name}={value!r} is not a whole number of at least {minimum}{detail}", value=value
        )
    return int(value)
