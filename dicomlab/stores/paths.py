"""DICOMweb resource paths (``studies/S/series/SE/instances/I``) and the UIDs in DICOM JSON.

Pure: shared by every store and by the viewer's links.

>>> resource_path("1.2", "1.2.3")
'studies/1.2/series/1.2.3'
"""

from __future__ import annotations

from dicomlab.core.uids import validate_uid
from dicomlab.errors import InvalidIdentifierError
from dicomlab.stores.base import InstanceRef

__all__ = ["UID_TAGS", "instance_path", "json_uid", "resource_path"]

# The tags of the study, series and instance UIDs in DICOM JSON.
UID_TAGS = {"study": "0020000D", "series": "0020000E", "instance": "00080018"}


def resource_path(study: str, series: str | None = None, instance: str | None = None) -> str:
    """``studies/S[/series/SE[/instances/I]]``, the UIDs validated; an instance needs its series.

    >>> resource_path("1.2", None, "1.2.3")
    Traceback (most recent call last):
    ...
    dicomlab.errors.InvalidIdentifierError: instance '1.2.3' needs its SeriesInstanceUID too
    """
    if instance is not None and series is None:
        raise InvalidIdentifierError(f"instance {instance!r} needs its SeriesInstanceUID too")
    path = f"studies/{validate_uid(study, what='StudyInstanceUID')}"
    if series is not None:
        path += f"/series/{validate_uid(series, what='SeriesInstanceUID')}"
    if instance is not None:
        path += f"/instances/{validate_uid(instance, what='SOPInstanceUID')}"
    return path


def instance_path(ref: InstanceRef) -> str:
    """The WADO-RS path of an instance, relative to the base URL.

    >>> instance_path(InstanceRef("1.2", "1.2.3", "1.2.3.4"))
    'studies/1.2/series/1.2.3/instances/1.2.3.4'
    """
    return f"studies/{ref.study}/series/{ref.series}/instances/{ref.instance}"


def json_uid(item: object, level: str) -> str:
    """The study, series or instance UID of a DICOM JSON object, or ``""`` when it has none.

    >>> json_uid({"0020000D": {"vr": "UI", "Value": ["1.2"]}}, "study")
    '1.2'
    >>> json_uid({}, "series")
    ''
    """
    try:
        value = item[UID_TAGS[level]]["Value"][0]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return ""
    return value if isinstance(value, str) else ""
