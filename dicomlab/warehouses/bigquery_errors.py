"""BigQuery's failures as dicomlab errors, translated in one place.

::

    google.api_core NotFound               -> NotFoundError
    reason bytesBilledLimitExceeded        -> CostLimitError (QueryError)
    google.api_core BadRequest             -> QueryError
    any other GoogleAPICallError           -> RemoteError (service, resource, status)

google.api_core is imported when :func:`translated` is first entered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dicomlab.errors import CostLimitError, NotFoundError, QueryError, RemoteError

__all__ = ["SERVICE", "translated"]

SERVICE = "BigQuery"


def _message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return str(first.get("message") or getattr(exc, "message", None) or exc)


@contextlib.contextmanager
def translated(resource: str) -> Iterator[None]:
    """google.api_core failures inside the block as dicomlab errors about ``resource``."""
    from google.api_core import exceptions

    try:
        yield
    except exceptions.NotFound as exc:
        raise NotFoundError(f"{resource}: {_message(exc)}") from exc
    except exceptions.GoogleAPICallError as exc:
        reasons = {e.get("reason") for e in (exc.errors or []) if isinstance(e, dict)}
        if "bytesBilledLimitExceeded" in reasons:
            raise CostLimitError(
                f"{resource}: BigQuery refused to bill more than the cap: {_message(exc)}"
            ) from exc
        if isinstance(exc, exceptions.BadRequest):
            raise QueryError(f"{resource}: {_message(exc)}") from exc
        raise RemoteError(
            f"BigQuery request for {resource} failed with HTTP {exc.code}: {_message(exc)}",
            service=SERVICE,
            resource=resource,
            status=exc.code if isinstance(exc.code, int) else None,
        ) from exc
