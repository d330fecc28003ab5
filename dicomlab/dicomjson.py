"""DICOM JSON (PS3.18 F.2) search results → plain records keyed by keyword.

>>> to_records([{"00100020": {"vr": "LO", "Value": ["77654033"]},
...              "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
...              "00280030": {"vr": "DS", "Value": [0.5, 0.5]}}])
[{'PatientID': '77654033', 'PatientName': 'Doe^John', 'PixelSpacing': [0.5, 0.5]}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydicom.datadict import keyword_for_tag

__all__ = ["to_records"]


def _value(element: Mapping[str, Any]) -> Any:
    values = element.get("Value")
    if not values:
        return None
    if element.get("vr") == "PN":
        values = [v.get("Alphabetic") if isinstance(v, Mapping) else v for v in values]
    return values[0] if len(values) == 1 else list(values)


def to_records(items: Iterable[Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Turn DICOM JSON objects into dicts keyed by DICOM keyword (tag if none)."""
    records = []
    for item in items:
        record = {}
        for tag, element in item.items():
            keyword = keyword_for_tag(int(tag, 16)) or tag
            record[keyword] = _value(element)
        records.append(record)
    return records
