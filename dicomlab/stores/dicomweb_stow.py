"""STOW-RS to a DICOMweb server: Part 10 batches, and DICOM JSON with a JPEG part.

Instances the server refuses (listed in the response's FailedSOPSequence,
also when it answers 400 or 409 for a partly failed batch) are failures of
the :class:`~dicomlab.stores.stow.StowResult`; an answer that lists nothing
counts nothing as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests

from dicomlab.errors import RemoteError
from dicomlab.plumbing.http_errors import http_status
from dicomlab.stores.dicomweb_errors import SERVICE, translated
from dicomlab.stores.stow import (
    StowResult,
    build_json_jpeg_body,
    dataset_from_json_jpeg,
    json_body,
    record_stow,
)

if TYPE_CHECKING:
    from dicomweb_client import DICOMwebClient
    from pydicom import Dataset

__all__ = ["post_json_jpeg", "stow_datasets"]


def stow_datasets(
    client: DICOMwebClient, datasets: dict[str, Dataset], result: StowResult | None = None
) -> StowResult:
    """Send datasets (keyed by SOPInstanceUID) in one STOW-RS request; failures in the result."""
    result = result if result is not None else StowResult()
    try:
        with translated("studies"):
            try:
                response = client.store_instances(list(datasets.values()))
            except requests.HTTPError as exc:
                body = json_body(exc.response)
                if body is None or http_status(exc) not in (400, 409):
                    raise
                response = body
    except RemoteError as exc:
        result.failures.extend((uid, str(exc)) for uid in datasets)
        return result
    record_stow(response, datasets, result)
    return result


def post_json_jpeg(
    session: requests.Session,
    url: str,
    metadata: Mapping[str, Any],
    jpeg: bytes,
    timeout: Any,
) -> StowResult | None:
    """POST one instance as DICOM JSON plus its JPEG to ``url/studies``.

    ``None`` when the server does not take that form (it answers 415): the
    caller sends a Part 10 file instead.
    """
    dataset = dataset_from_json_jpeg(metadata, jpeg)  # validates the UIDs first
    body, content_type = build_json_jpeg_body(metadata, jpeg)
    headers = {"Content-Type": content_type, "Accept": "application/dicom+json"}
    with translated("studies"):
        response = session.post(f"{url}/studies", data=body, headers=headers, timeout=timeout)
    if response.status_code == 415:
        return None
    result = StowResult()
    with translated("studies"):
        parsed = json_body(response)
        if parsed is None:
            response.raise_for_status()
            raise RemoteError(
                "DICOMweb STOW answered without a DICOM JSON body",
                service=SERVICE,
                resource="studies",
                status=response.status_code,
            )
    record_stow(parsed, {str(dataset.SOPInstanceUID): dataset}, result)
    return result
