"""Searching a folder's dicomweb-client index as a DICOMweb server would.

``DICOMfileClient`` matches exact values only and ignores a date range (it
only logs so): ``YYYYMMDD-YYYYMMDD`` filters on ``…Date`` keywords are
matched here (PS3.4 C.2.2.2.5, either end open).

>>> split_date_ranges({"StudyDate": "20030101-", "Modality": "MR"})
({'Modality': 'MR'}, {'StudyDate': ('20030101', '')})
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydicom.datadict import tag_for_keyword

if TYPE_CHECKING:
    from dicomweb_client import DICOMfileClient

__all__ = ["query_client", "split_date_ranges"]

_DATE_RANGE = re.compile(r"(\d{8})?-(\d{8})?")


def split_date_ranges(
    filters: dict[str, str],
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Separate ``YYYYMMDD-YYYYMMDD`` range filters on DA keywords from exact ones."""
    exact, ranges = {}, {}
    for keyword, value in filters.items():
        match = _DATE_RANGE.fullmatch(str(value))
        if match and keyword.endswith("Date") and value != "-":
            ranges[keyword] = (match.group(1) or "", match.group(2) or "")
        else:
            exact[keyword] = value
    return exact, ranges


def query_client(
    client: DICOMfileClient,
    level: str,
    filters: dict[str, str],
    fields: Sequence[str] | None,
    limit: int | None,
) -> list[dict[str, Any]]:
    """DICOM JSON of the ``level`` resources matching ``filters`` (date ranges included).

    ``fields`` is not passed on: the file client answers every column it
    indexes whatever is asked, and logs a warning when given any.
    """
    exact, ranges = split_date_ranges(filters)
    searches: dict[str, Callable[..., list[dict[str, Any]]]] = {
        "studies": client.search_for_studies,
        "series": client.search_for_series,
        "instances": client.search_for_instances,
    }
    search = searches[level]
    found = search(search_filters=exact or None)
    for keyword, (low, high) in ranges.items():
        found = [item for item in found if _in_range(item, keyword, low, high)]
    return found[:limit] if limit is not None else found


def _in_range(item: Mapping[str, Any], keyword: str, low: str, high: str) -> bool:
    tag = tag_for_keyword(keyword)
    values = item.get(f"{tag:08X}", {}).get("Value") if tag is not None else None
    if not values:
        return False
    value = str(values[0])
    return (low or "00000000") <= value <= (high or "99999999")
