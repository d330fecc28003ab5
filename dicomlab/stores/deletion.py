"""Deleting studies, series and instances: not part of the DICOMweb standard, so per server.

- generic servers (dcm4chee, …): ``DELETE`` on the DICOMweb path;
- Google: the same, answered for a study or series by a long-running
  operation, which is waited on with the ``wait`` callable the store was given
  (:func:`dicomlab.backends.google_store` wires the Healthcare API's; SPEC §4, Delete);
- Orthanc: its DICOMweb plugin answers 405, so the resource is looked up with
  ``POST /tools/lookup`` and deleted with ``DELETE /studies/{id}`` (or
  ``/series/{id}``, ``/instances/{id}``) on Orthanc's REST API, beside the
  DICOMweb root.

This module needs only :class:`DeleteTarget` of a store. Callers translate
``requests`` failures (:func:`dicomlab.stores.dicomweb_errors.translated`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from dicomlab.errors import InvalidRequestError, NotFoundError
from dicomlab.stores.profiles import ServerProfile

if TYPE_CHECKING:
    import requests

__all__ = ["DeleteTarget", "OperationWait", "delete_resource"]

logger = logging.getLogger(__name__)
_ORTHANC_TYPES = ("Study", "Series", "Instance")

# Waits until the long-running operation of this name is done (raising if it failed).
OperationWait = Callable[[str], None]


class DeleteTarget(Protocol):
    """What deleting needs of a DICOMweb store."""

    @property
    def url(self) -> str: ...

    @property
    def profile(self) -> ServerProfile: ...

    session: requests.Session
    timeout: float | tuple[float, float]


def delete_resource(
    store: DeleteTarget, path: str, uids: list[str], wait: OperationWait | None = None
) -> None:
    """Delete ``path`` (``studies/S[/series/SE[/instances/I]]``) as the server requires.

    ``wait`` is called with the name of the operation a server answers with
    (Google, for a study or series). Without ``wait`` such a delete is refused
    before anything is sent: a delete still running must not be reported as done.
    """
    delete = store.profile.delete
    if delete == "orthanc-rest":
        _delete_orthanc(store, path, uids)
        return
    if delete == "operation" and wait is None and len(uids) < 3:
        raise InvalidRequestError(
            f"deleting {path}: {store.url} answers deletes with a long-running operation, "
            "and this store was given nothing to wait on it with; open it with "
            "dicomlab.connect() (or dicomlab.backends.google_store) and delete again",
            value=path,
        )
    response = store.session.delete(f"{store.url}/{path}", timeout=store.timeout)
    response.raise_for_status()
    name = _json(response).get("name") if delete == "operation" else None
    if name and wait is not None:
        wait(str(name))


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _delete_orthanc(store: DeleteTarget, path: str, uids: list[str]) -> None:
    """Find the resource's Orthanc ID by its UID, check its parents, and delete it."""
    root = store.url.rsplit("/", 1)[0]
    kind = _ORTHANC_TYPES[len(uids) - 1]
    response = store.session.post(f"{root}/tools/lookup", data=uids[-1], timeout=store.timeout)
    response.raise_for_status()
    matches = [m for m in response.json() if m.get("Type") == kind]
    for match in matches:
        if _orthanc_parents_match(store, root, match, uids):
            store.session.delete(f"{root}{match['Path']}", timeout=store.timeout).raise_for_status()
            logger.info("deleted %s (Orthanc %s)", path, match["Path"])
            return
    raise NotFoundError(f"{path} was not found on the DICOMweb server")


def _orthanc_parents_match(
    store: DeleteTarget, root: str, match: dict[str, Any], uids: list[str]
) -> bool:
    """Whether an Orthanc resource found by its own UID sits under the given study/series."""
    if len(uids) == 1:
        return True
    response = store.session.get(f"{root}{match['Path']}/study", timeout=store.timeout)
    response.raise_for_status()
    if response.json().get("MainDicomTags", {}).get("StudyInstanceUID") != uids[0]:
        return False
    if len(uids) == 3:
        response = store.session.get(f"{root}{match['Path']}/series", timeout=store.timeout)
        response.raise_for_status()
        return bool(response.json().get("MainDicomTags", {}).get("SeriesInstanceUID") == uids[1])
    return True
