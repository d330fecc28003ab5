"""Deleting studies, series and instances: not part of the DICOMweb standard, so per server.

- generic servers (dcm4chee, …): ``DELETE`` on the DICOMweb path;
- Google: the same, answered for a study or series by a long-running
  operation, which is waited on (SPEC §4, Delete);
- Orthanc: its DICOMweb plugin answers 405, so the resource is looked up with
  ``POST /tools/lookup`` and deleted with ``DELETE /studies/{id}`` (or
  ``/series/{id}``, ``/instances/{id}``) on Orthanc's REST API, beside the
  DICOMweb root.

Callers translate ``requests`` failures (:func:`dicomlab.stores.dicomweb._translated`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dicomlab.errors import NotFoundError

if TYPE_CHECKING:
    from dicomlab.stores.dicomweb import DICOMwebStore

__all__ = ["delete_resource"]

logger = logging.getLogger(__name__)
_ORTHANC_TYPES = ("Study", "Series", "Instance")


def delete_resource(store: DICOMwebStore, path: str, uids: list[str]) -> None:
    """Delete ``path`` (``studies/S[/series/SE[/instances/I]]``) as the server requires."""
    if store.profile.delete == "orthanc-rest":
        _delete_orthanc(store, path, uids)
        return
    response = store.session.delete(f"{store.url}/{path}", timeout=store.timeout)
    response.raise_for_status()
    if store.profile.delete == "operation":
        body = _json(response)
        if body.get("name"):
            _wait(store, str(body["name"]))


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _delete_orthanc(store: DICOMwebStore, path: str, uids: list[str]) -> None:
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
    store: DICOMwebStore, root: str, match: dict[str, Any], uids: list[str]
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


def _wait(store: DICOMwebStore, name: str) -> None:
    """Wait for the Healthcare API operation a study or series delete started."""
    from dicomlab.google.healthcare import HealthcareClient

    api_root = store.url.split("/projects/", 1)[0]  # …/v1 or …/v1beta1
    client = HealthcareClient(store.session, base_url=api_root, timeout=store.timeout)
    client.get_operation(name).wait(progress=False)
