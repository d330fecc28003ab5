"""Bulk retrieval for any store: thumbnails for a DataFrame of hits, a cohort to a folder.

Downloads themselves (checked writes, repairs) live in :mod:`dicomlab.stores.download`.

Rows address instances (``SOPInstanceUID``), series or studies. For
thumbnails a coarser row is shown by a representative instance (the middle
one of its first series by ``InstanceNumber``); for downloads it stands for
all its instances. Work runs on a bounded thread pool sized for the store
(``store.thumbnail_concurrency``), results come back in row order, and a
progress bar appears when the work takes more than a second. What these
need of a store is :class:`IndexedStore` (and :class:`ThumbnailSource`).
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dicomlab.core.render import render_placeholder
from dicomlab.core.validation import validate_count, validate_flag, validate_frame
from dicomlab.errors import DicomlabError
from dicomlab.stores.base import InstanceRef

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "IndexedStore",
    "StudyIndex",
    "ThumbnailSource",
    "check_uid_columns",
    "expand_rows",
    "fetch_thumbnails",
    "imap_bounded",
    "is_present",
    "map_bounded",
    "resolve_rows",
]

logger = logging.getLogger(__name__)
UID_COLUMNS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
# What the index keeps of each instance: addressing, order, pixels or not, captions.
INDEX_COLUMNS = (
    *UID_COLUMNS,
    "InstanceNumber",
    "Rows",
    "PatientID",
    "StudyDate",
    "Modality",
    "SeriesDescription",
)
T = TypeVar("T")
R = TypeVar("R")
# Seconds before a progress bar appears: anything quicker stays quiet.
PROGRESS_DELAY = 1.0


def map_bounded(
    function: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    desc: str,
    unit: str,
    progress: bool = True,
) -> list[R]:
    """``[function(item) for item in items]`` with ``workers`` calls in flight, in order.

    ``workers == 1`` runs everything in the caller's thread (for stores whose
    client is bound to it). The progress bar shows after :data:`PROGRESS_DELAY`.

    >>> map_bounded(lambda x: x * x, range(5), workers=2, desc="squares", unit="n")
    [0, 1, 4, 9, 16]
    """
    from tqdm.auto import tqdm  # heavy (it looks for a notebook): loaded on first use

    items = list(items)
    workers = max(1, min(workers, len(items)))
    with contextlib.ExitStack() as stack:
        if workers == 1:
            results: Iterator[R] = (function(item) for item in items)
        else:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers))
            results = pool.map(function, items)
        bar = tqdm(
            results,
            total=len(items),
            desc=desc,
            unit=unit,
            disable=not progress,
            delay=PROGRESS_DELAY,
        )
        return list(bar)


def imap_bounded(function: Callable[[T], R], items: Iterable[T], *, workers: int) -> Iterator[R]:
    """``map(function, items)`` lazily, with up to ``workers`` calls in flight, in order.

    Unlike :func:`map_bounded` the results are handed out as they come, and
    at most ``2 * workers`` of them wait (memory stays bounded however many
    items there are). ``items`` is read in the caller's thread. A call that
    raises raises here, in its turn; calls not started when the caller stops
    are dropped.

    >>> list(imap_bounded(lambda x: x * x, iter(range(5)), workers=2))
    [0, 1, 4, 9, 16]
    """
    if workers <= 1:
        yield from map(function, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers)
    pending: deque[Any] = deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:  # the window is full: hand out the oldest
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _number(record: dict[str, Any]) -> int:
    value = str(record.get("InstanceNumber", ""))
    return int(value) if value.lstrip("-").isdigit() else 0


def is_present(value: Any) -> bool:
    """Whether a DataFrame cell holds a value (not None, empty, NaN, NaT or NA)."""
    return value is not None and str(value) not in ("", "nan", "NaT", "<NA>", "None")


def index_records(found: pd.DataFrame) -> list[dict[str, Any]]:
    """Instances found by a search as records of :data:`INDEX_COLUMNS`, by series then number."""
    found = found[[c for c in INDEX_COLUMNS if c in found.columns]]
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in found.to_dict("records")
    ]
    records.sort(key=lambda r: (str(r.get("SeriesInstanceUID")), _number(r)))
    return records


class IndexedStore(Protocol):
    """What finding the instances of rows needs of a store."""

    @property
    def thumbnail_concurrency(self) -> int: ...

    def study_records(self, study: str) -> list[dict[str, Any]]: ...


class ThumbnailSource(IndexedStore, Protocol):
    """What :func:`fetch_thumbnails` needs of a store."""

    def fetch_thumbnail(
        self, ref: InstanceRef, *, size: int = 128, media_type: str = "image/png", **options: Any
    ) -> bytes: ...


class StudyIndex:
    """Instances of each study, searched once per study (representatives, expansion)."""

    def __init__(self, store: IndexedStore) -> None:
        self.store = store
        self._found: dict[str, list[dict[str, Any]]] = {}

    def instances(self, study: str) -> list[dict[str, Any]]:
        """The study's instances as records, by series then ``InstanceNumber``.

        Asked of the store once per study (``store.study_records``; the folder
        store keeps them, others search).
        """
        if study not in self._found:
            self._found[study] = self.store.study_records(study)
        return self._found[study]

    def prefetch(self, studies: Iterable[str]) -> None:
        """Search several studies at once, as many in flight as the store takes."""
        missing = [s for s in dict.fromkeys(studies) if s not in self._found]
        workers = self.store.thumbnail_concurrency
        if len(missing) > 1 and workers > 1:
            map_bounded(self.instances, missing, workers=workers, desc="Searching", unit="study")

    def matching(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The indexed instances a row names (all of its series or study for coarser rows)."""
        study = str(record["StudyInstanceUID"])
        candidates = self.instances(study)
        for column in UID_COLUMNS[1:]:
            if is_present(record.get(column)):
                candidates = [c for c in candidates if c.get(column) == record[column]]
        if not candidates:
            raise DicomlabError(f"no instance found in the store for study {study}")
        return candidates

    def find(self, record: dict[str, Any]) -> dict[str, Any]:
        """The instance a row names, or a representative of its series or study."""
        candidates = self.matching(record)
        series = candidates[0].get("SeriesInstanceUID")
        first_series = [c for c in candidates if c.get("SeriesInstanceUID") == series]
        return first_series[len(first_series) // 2]


def check_uid_columns(df: pd.DataFrame, what: str) -> None:
    """Refuse a DataFrame without StudyInstanceUID, saying what ``what`` needs."""
    validate_frame(df, f"the rows for {what}")
    if "StudyInstanceUID" not in df.columns:
        raise DicomlabError(
            f"{what} need a StudyInstanceUID column (and ideally SeriesInstanceUID, "
            f"SOPInstanceUID); the DataFrame has {list(df.columns)}"
        )


def _ref(record: dict[str, Any]) -> InstanceRef:
    return InstanceRef(*(str(record[c]) for c in UID_COLUMNS))


def resolve_rows(
    df: pd.DataFrame, store: IndexedStore, index: StudyIndex | None = None
) -> list[tuple[InstanceRef | None, dict[str, Any], str | None]]:
    """``(instance, found record, error)`` for each row of ``df``, in order.

    A row with all three UIDs is used as is (no search); a coarser row is
    resolved to a representative instance through one search per study.
    """
    check_uid_columns(df, "thumbnails")
    index = index or StudyIndex(store)
    resolved: list[tuple[InstanceRef | None, dict[str, Any], str | None]] = []
    for row in df.to_dict("records"):
        record = {str(k): v for k, v in row.items()}
        if all(is_present(record.get(c)) for c in UID_COLUMNS):
            resolved.append((_ref(record), {}, None))
            continue
        try:
            found = index.find(record)
            resolved.append((_ref(found), found, None))
        except DicomlabError as exc:
            resolved.append((None, {}, str(exc)))
    return resolved


def fetch_thumbnails(
    store: ThumbnailSource,
    df: pd.DataFrame,
    *,
    size: int = 256,
    media_type: str = "image/jpeg",
    workers: int | None = None,
    progress: bool = True,
    placeholder: bool = True,
) -> list[bytes | None]:
    """One rendered thumbnail per row of ``df``, in row order.

    A row that cannot be shown (no pixel data, unknown instance, a server
    error after retries) gets a labelled placeholder image saying why, or
    ``None`` with ``placeholder=False``; it never stops the others.

    >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033").head(2)
    >>> [image[:4] for image in fetch_thumbnails(lab.store, hits, size=32, progress=False)]
    [b'\xff\xd8\xff\xe0', b'\xff\xd8\xff\xe0']
    """
    progress = validate_flag(progress, "progress")
    placeholder = validate_flag(placeholder, "placeholder")
    validate_count(size, "size", hint="the thumbnails' width in pixels")
    if workers is not None:
        validate_count(workers, "workers", hint="how many images are fetched at once")
    rows = resolve_rows(df, store)
    workers = workers or store.thumbnail_concurrency

    def one(item: tuple[InstanceRef | None, dict[str, Any], str | None]) -> bytes | None:
        ref, _, error = item
        if ref is not None:
            try:
                return store.fetch_thumbnail(ref, size=size, media_type=media_type)
            except DicomlabError as exc:
                error = str(exc)
        logger.info("no thumbnail for a row: %s", error)
        return render_placeholder(error or "no image", size, media_type) if placeholder else None

    return map_bounded(
        one, rows, workers=workers, desc="Thumbnails", unit="image", progress=progress
    )


def expand_rows(
    df: pd.DataFrame, store: IndexedStore, what: str = "downloads"
) -> tuple[list[InstanceRef], list[tuple[str, str]]]:
    """Every instance the rows name, once each, in row order; rows that name none fail.

    Returns the instances and ``(StudyInstanceUID, reason)`` for rows naming none.
    """
    check_uid_columns(df, what)
    index = StudyIndex(store)
    refs: dict[InstanceRef, None] = {}
    failures = []
    for row in df.to_dict("records"):
        record = {str(k): v for k, v in row.items()}
        if all(is_present(record.get(c)) for c in UID_COLUMNS):
            refs[_ref(record)] = None
            continue
        try:
            refs.update((_ref(found), None) for found in index.matching(record))
        except DicomlabError as exc:
            failures.append((str(record["StudyInstanceUID"]), str(exc)))
    return list(refs), failures
