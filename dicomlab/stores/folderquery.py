"""Searching a folder's dicomweb-client index as a DICOMweb server would.

``DICOMfileClient`` matches exact values only and ignores a date range (it
only logs so): ``YYYYMMDD-YYYYMMDD`` filters on ``…Date`` keywords are
matched here (PS3.4 C.2.2.2.5, either end open).

>>> split_date_ranges({"StudyDate": "20030101-", "Modality": "MR"})
({'Modality': 'MR'}, {'StudyDate': ('20030101', '')})
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydicom.datadict import tag_for_keyword

from dicomlab.errors import InvalidRequestError

if TYPE_CHECKING:
    from dicomweb_client import DICOMfileClient

__all__ = ["query_client", "split_date_ranges"]

_DATE_RANGE = re.compile(r"(\d{8})?-(\d{8})?")
_SKIP = "skip search filter "


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
    with _skipped_filters() as skipped:
        found = search(search_filters=exact or None)
    if skipped:
        raise InvalidRequestError(
            f"search filter {skipped[0]} in a search of {level}: the folder store cannot apply "
            "it, and searching without it would answer more than was asked; give a DICOM "
            "keyword this level indexes, with a value in its DICOM form (dates as YYYYMMDD or "
            "YYYYMMDD-YYYYMMDD)",
            value=skipped[0],
        )
    for keyword, (low, high) in ranges.items():
        found = [item for item in found if _in_range(item, keyword, low, high)]
    return found[:limit] if limit is not None else found


class _SkippedFilters(logging.Filter):
    """Takes the filters the file client drops (it only logs them) in this thread."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()
        self.skipped: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.thread != self.thread or not message.startswith(_SKIP):
            return True
        self.skipped.append(message[len(_SKIP) :].replace(" - ", " (", 1) + ")")
        return False  # raised instead of logged


@contextlib.contextmanager
def _skipped_filters() -> Iterator[list[str]]:
    """The filters dicomweb-client's file client skipped while the block ran.

    It skips an unknown keyword, one it does not index, an empty value or a
    malformed date or time with a warning, and answers as if they were never
    given: every patient for a misspelled ``PatientId``.
    """
    taken = _SkippedFilters()
    logger = logging.getLogger("dicomweb_client.file")
    logger.addFilter(taken)
    try:
        yield taken.skipped
    finally:
        logger.removeFilter(taken)


def _in_range(item: Mapping[str, Any], keyword: str, low: str, high: str) -> bool:
    tag = tag_for_keyword(keyword)
    values = item.get(f"{tag:08X}", {}).get("Value") if tag is not None else None
    if not values:
        return False
    value = str(values[0])
    return (low or "00000000") <= value <= (high or "99999999")
