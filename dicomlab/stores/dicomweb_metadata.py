"""Reading a DICOMweb store's metadata for an export: series by series, checked.

One WADO-RS request per series; every instance in the answer must belong to
the study and series asked for, or it is counted as unread (the server mixed
series up). The JSON is handed out as it came, or read into Datasets for the
stores' ``iter_metadata``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pydicom import Dataset

from dicomlab.errors import NotFoundError, RemoteError
from dicomlab.rows.flatten import has_bulk_data
from dicomlab.stores.base import MetadataItem
from dicomlab.stores.paths import json_uid

__all__ = ["datasets_from_json", "series_items"]


def series_items(
    fetch_metadata: Callable[[str, str], list[dict[str, Any]]], study: str, series: str
) -> list[MetadataItem]:
    """The items of one series (or its one failure item), as ``DICOMwebStore.iter_json`` gives.

    ``fetch_metadata(study, series)`` is the store's WADO-RS series metadata.
    """
    resource = f"studies/{study}/series/{series}/metadata"
    try:
        found = fetch_metadata(study, series)
    except (RemoteError, NotFoundError) as exc:
        return [MetadataItem(resource, error=str(exc), transport=True)]
    items = []
    for meta in found:
        instance = json_uid(meta, "instance")
        if not instance:
            items.append(MetadataItem(resource, error="an instance without SOPInstanceUID"))
            continue
        source = f"studies/{study}/series/{series}/instances/{instance}"
        other = _other_series(meta, study, series)
        if other:  # the server mixed series up: this series' own instance is not read
            error = f"the answer for {resource} holds an instance of {other}"
            items.append(MetadataItem(source, error=error, transport=True))
            continue
        items.append(MetadataItem(source, json=meta))
    return items


def datasets_from_json(items: Iterable[MetadataItem]) -> Iterator[MetadataItem]:
    """``items`` with their DICOM JSON read into Datasets (bulk data elements left empty).

    An object pydicom cannot read becomes a failure item of its own.
    """
    # pydicom inspects the handler's signature for every element it is given
    # to: it is passed only to the objects that have bulk data.
    for item in items:
        if item.json is None:
            yield item
            continue
        try:
            handler = _no_bulk if has_bulk_data(item.json) else None
            dataset = Dataset.from_json(dict(item.json), bulk_data_uri_handler=handler)
        except Exception as exc:  # one malformed object must not stop an export
            yield MetadataItem(item.source, error=f"metadata not readable: {exc}")
            continue
        yield MetadataItem(item.source, dataset=dataset)


def _no_bulk(tag: str, vr: str, uri: str) -> bytes:
    """Bulk data (pixels, large values) is not fetched for metadata: left empty."""
    return b""


def _other_series(meta: Mapping[str, Any], study: str, series: str) -> str:
    """The study or series an instance's JSON names when it is not the one asked for, else ``""``.

    A UID the JSON leaves out is not taken for another one.
    """
    for level, asked in (("study", study), ("series", series)):
        found = json_uid(meta, level)
        if found and found != asked:
            return f"{level} {found}"
    return ""
