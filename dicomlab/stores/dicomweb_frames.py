"""Why a DICOMweb server refused frames: a frame past the last is not found.

Servers answer a frame number past the instance's last in their own ways
(Orthanc: 400 Bad Request). The folder and Cloud Storage stores say
:class:`~dicomlab.errors.NotFoundError`; :func:`frames_past_the_last` asks the
server for the instance's NumberOfFrames so the DICOMweb store can say the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from dicomlab.errors import DicomlabError, NotFoundError
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.dicomweb_errors import translated
from dicomlab.stores.paths import resource_path

__all__ = ["frames_past_the_last"]

_NUMBER_OF_FRAMES = "00280008"


def frames_past_the_last(
    session: requests.Session,
    base_url: str,
    ref: InstanceRef,
    numbers: Sequence[int],
    timeout: float | tuple[float, float] | None,
) -> NotFoundError | None:
    """The error naming the frames past the last of ``ref``, or ``None``.

    ``None`` when every frame exists or the count cannot be learned: the
    server's own refusal then stands.
    """
    resource = f"{resource_path(ref.study, ref.series, ref.instance)}/metadata"
    try:
        with translated(resource):
            response = session.get(
                f"{base_url}/{resource}",
                headers={"Accept": "application/dicom+json"},
                timeout=timeout,
            )
            response.raise_for_status()
            (item,) = response.json()
        # An instance without NumberOfFrames has one frame (PS3.3 C.7.6.6).
        count = int((item.get(_NUMBER_OF_FRAMES, {}).get("Value") or [1])[0])
    except (DicomlabError, ValueError, TypeError, AttributeError, IndexError):
        return None
    past = [n for n in numbers if n > count]
    if not past:
        return None
    return NotFoundError(f"frames {past} of instance {ref.instance} do not exist: it has {count}")
