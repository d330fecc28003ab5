"""From a DataFrame of query hits to thumbnail tiles.

Each row addresses an instance (``SOPInstanceUID``), a series or a study; a
series or study row is shown by a representative instance (the middle one of
its series, ordered by ``InstanceNumber``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dicomlab.core.filterfile import UID_COLUMNS
from dicomlab.errors import DicomlabError
from dicomlab.notebook.widgets import Tile
from dicomlab.stores.base import InstanceRef, Store
from dicomlab.stores.bulk import StudyIndex, check_uid_columns, is_present, map_bounded

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CAPTION_COLUMNS", "build_tiles", "distinct_rows", "page_tiles", "resolve_instances"]

logger = logging.getLogger(__name__)
CAPTION_COLUMNS = ("PatientID", "StudyDate", "Modality", "SeriesDescription")
# Thumbnails requested at once: Orthanc's rendered throughput here doubles from 1 to 8.
DEFAULT_CONCURRENCY = 8


def _caption(*records: dict[str, Any]) -> str:
    parts = []
    for column in CAPTION_COLUMNS:
        value = next((r[column] for r in records if r.get(column) not in (None, "")), None)
        if value is not None and str(value) not in ("nan", "NaT", "<NA>"):
            parts.append(_text(value))
    return " · ".join(parts)


def _text(value: Any) -> str:
    """A caption part: dates as ``YYYY-MM-DD`` (search results type DA as timestamps)."""
    if hasattr(value, "strftime") and hasattr(value, "hour") and not value.hour + value.minute:
        return str(value.strftime("%Y-%m-%d"))
    return str(value)


def resolve_instances(
    df: pd.DataFrame, store: Store, *, limit: int
) -> list[tuple[InstanceRef | None, str, str | None]]:
    """``(instance, caption, error)`` for the first ``limit`` distinct rows of ``df``."""
    return _resolve(distinct_rows(df).head(limit), store)


def _resolve(rows: pd.DataFrame, store: Store) -> list[tuple[InstanceRef | None, str, str | None]]:
    """:func:`resolve_instances` of rows already distinct."""
    # Rows that name an instance and carry captions and Rows need no search at all.
    described = set(UID_COLUMNS) | set(CAPTION_COLUMNS) | {"Rows"} <= set(rows.columns)
    index = StudyIndex(store)
    used = [c for c in (*UID_COLUMNS, *CAPTION_COLUMNS, "Rows", "InstanceNumber") if c in rows]
    records = [{str(k): v for k, v in r.items()} for r in rows[used].to_dict("records")]
    lookup = [r for r in records if not (described and _names_instance(r))]
    index.prefetch(str(r["StudyInstanceUID"]) for r in lookup)
    lists_rows = store.lists_rows
    resolved: list[tuple[InstanceRef | None, str, str | None]] = []
    for record in records:
        if described and _names_instance(record):
            ref = InstanceRef(*(str(record[c]) for c in UID_COLUMNS))
            resolved.append((ref, _caption(record), _no_pixels(record, ref, True)))
            continue
        try:
            found = index.find(record)
            ref = InstanceRef(*(str(found[c]) for c in UID_COLUMNS))
        except DicomlabError as exc:
            resolved.append((None, _caption(record), str(exc)))
            continue
        resolved.append((ref, _caption(record, found), _no_pixels(found, ref, lists_rows)))
    return resolved


def _names_instance(record: dict[str, Any]) -> bool:
    return all(is_present(record.get(c)) for c in UID_COLUMNS)


def _no_pixels(found: dict[str, Any], ref: InstanceRef, lists_rows: bool) -> str | None:
    """Say so when the search shows the instance has no image, before asking for one.

    A missing ``Rows`` means no pixel data when the store's searches list
    ``Rows`` for every instance that has it (``store.lists_rows``); otherwise
    only a ``Rows`` column that other instances fill tells.
    """
    if not is_present(found.get("Rows")) and ("Rows" in found or lists_rows):
        return f"no pixel data (instance {ref.instance})"
    return None


def _thumbnail(
    store: Store, ref: InstanceRef | None, error: str | None, size: int, media_type: str
) -> tuple[bytes | None, str | None]:
    if ref is None or error is not None:
        return None, error
    try:
        return store.fetch_thumbnail(ref, size=size, media_type=media_type), None
    except DicomlabError as exc:
        return None, str(exc)


def build_tiles(
    store: Store,
    items: Iterable[tuple[InstanceRef | None, str, str | None]],
    *,
    size: int,
    media_type: str,
    progress: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[Tile]:
    """Fetch one thumbnail per item, ``concurrency`` at a time, in the items' order.

    A failure becomes a tile that says why. Thumbnails from a DICOMweb server
    are mostly waiting on the network, so a few requests in flight fill a grid
    several times faster; the session keeps its connections alive.
    """
    items = list(items)
    # A store says how many requests it takes at once (a local index may be bound to
    # its thread: 1 means everything runs here, in the caller's thread).
    workers = min(concurrency, store.thumbnail_concurrency)
    cache = store.cache
    # The page's new cache entries are written once it is shown, not while it is built.
    with cache.hold() if cache is not None else contextlib.nullcontext():
        results = map_bounded(
            lambda item: _thumbnail(store, item[0], item[2], size, media_type),
            items,
            workers=workers,
            desc="Thumbnails",
            unit="image",
            progress=progress,
        )
    tiles = []
    for (ref, caption, _), (image, error) in zip(items, results, strict=True):
        uids = (ref.study, ref.series, ref.instance) if ref else ("", "", "")
        tiles.append(Tile(caption, image, media_type, error, uids))
    return tiles


def distinct_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``df`` that name distinct instances, series or studies, in order."""
    check_uid_columns(df, "images")
    keys = [c for c in UID_COLUMNS if c in df.columns]
    distinct: pd.DataFrame = df.drop_duplicates(keys).reset_index(drop=True)
    return distinct


def page_tiles(
    store: Store,
    rows: pd.DataFrame,
    *,
    size: int,
    media_type: str,
    progress: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[Tile]:
    """One tile per row of ``rows`` (distinct rows, :func:`distinct_rows`): resolved
    (captions, representatives), then rendered.

    (Fetching thumbnails while the captions are looked up was tried: on two
    cores the two compete for the CPU and the page gets slower.)
    """
    items = _resolve(rows, store)
    return build_tiles(
        store, items, size=size, media_type=media_type, progress=progress, concurrency=concurrency
    )
