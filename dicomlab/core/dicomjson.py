"""DICOM JSON (PS3.18 F.2) search results → plain records keyed by keyword.

>>> to_records([{"00100020": {"vr": "LO", "Value": ["77654033"]},
...              "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
...              "00280030": {"vr": "DS", "Value": [0.5, 0.5]}}])
[{'PatientID': '77654033', 'PatientName': 'Doe^John', 'PixelSpacing': [0.5, 0.5]}]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydicom.datadict import keyword_for_tag

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["to_frame", "to_records"]

_INTEGER_VRS = frozenset({"IS", "SL", "SS", "UL", "US", "SV", "UV"})
_FLOAT_VRS = frozenset({"DS", "FD", "FL"})
_TYPED_VRS = _INTEGER_VRS | _FLOAT_VRS | {"DA"}


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


def _vrs(items: Iterable[Mapping[str, Mapping[str, Any]]]) -> dict[str, str]:
    vrs: dict[str, str] = {}
    for item in items:
        for tag, element in item.items():
            vr = element.get("vr")
            if vr:
                vrs.setdefault(keyword_for_tag(int(tag, 16)) or tag, vr)
    return vrs


def to_frame(items: Iterable[Mapping[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """DICOM JSON objects as a DataFrame with keyword columns typed by VR.

    Dates (DA) become ``datetime64`` (``NaT`` when absent or malformed),
    single-valued integers (IS, US, UL, …) nullable ``Int64``, single-valued
    decimals (DS, FD, FL) ``float``; everything else stays as received.

    >>> df = to_frame([{"00080020": {"vr": "DA", "Value": ["20040119"]},
    ...                 "00201208": {"vr": "IS", "Value": [7]}},
    ...                {"00080020": {"vr": "DA"}}])
    >>> df.dtypes.astype(str).to_dict()
    {'StudyDate': 'datetime64[...]', 'NumberOfStudyRelatedInstances': 'Int64'}
    >>> df.StudyDate.dt.strftime("%Y-%m-%d").tolist()
    ['2004-01-19', nan]
    """
    import pandas as pd

    items = list(items)
    records = to_records(items)
    frame: pd.DataFrame = pd.DataFrame(records)
    typed = {c: vr for c, vr in _vrs(items).items() if vr in _TYPED_VRS}
    multi = {k for r in records for k, v in r.items() if k in typed and isinstance(v, list)}
    for column, vr in typed.items():
        if column in multi:
            continue  # multi-valued somewhere: keep the lists
        values = frame[column]
        if vr == "DA":
            frame[column] = pd.to_datetime(values, format="%Y%m%d", errors="coerce")
        elif vr in _INTEGER_VRS:
            frame[column] = pd.to_numeric(values, errors="coerce").astype("Int64")
        elif vr in _FLOAT_VRS:
            frame[column] = pd.to_numeric(values, errors="coerce").astype(float)
    return frame
