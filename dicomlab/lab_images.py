"""The Lab's verbs for looking: thumbnail grids, the series viewer, reviews.

:class:`ImageVerbs` is a base of :class:`~dicomlab.lab.Lab`; it is kept apart
so each module reads as one group of verbs. Its methods use the Lab's store,
warehouse and share mode, declared below for the type checker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dicomlab.core.validation import validate_count, validate_flag
from dicomlab.notebook.gallery import distinct_rows, page_tiles
from dicomlab.notebook.review import Review
from dicomlab.notebook.viewer import SeriesViewer
from dicomlab.share import ShareDecisionLog, ShareMode, scrubbed_errors
from dicomlab.stores.base import Store
from dicomlab.warehouses.base import Warehouse
from dicomlab.warehouses.decisions import DecisionLog

if TYPE_CHECKING:
    import pandas as pd

    from dicomlab.notebook.widgets import ThumbnailGrid, Tile

__all__ = ["ImageVerbs"]


class _SharedReview(Review):
    """A review whose ``decide`` errors are scrubbed in share mode, as the Lab's verbs' are.

    It is given UIDs by hand, and a real one it refuses must not be printed back.
    """

    _share: ShareMode | None = None

    @scrubbed_errors
    def decide(self, which: object, decision: str, reason: str | None = None) -> pd.DataFrame:
        return super().decide(which, decision, reason)


class ImageVerbs:
    """Thumbnails, the series viewer and reviews of a Lab's store."""

    table: str
    _store: Store
    _warehouse: Warehouse
    _share: ShareMode | None

    if TYPE_CHECKING:  # defined by Lab

        @property
        def store(self) -> Store: ...

        def shown(self, value: Any) -> Any: ...

        def _real(self, value: Any) -> Any: ...

    @scrubbed_errors
    def images(
        self,
        df: pd.DataFrame,
        *,
        limit: int = 48,
        size: int = 128,
        columns: int = 6,
        media_type: str = "image/png",
        progress: bool = True,
        concurrency: int = 8,
        viewer: bool = True,
    ) -> ThumbnailGrid:
        """Thumbnails of the rows' instances (one per study or series for coarser rows).

        ``limit`` tiles make a page; further pages are fetched when the widget's
        "next" button is pressed. With ``viewer=True`` each tile has an "open"
        button that shows its series in a :class:`~dicomlab.notebook.viewer.SeriesViewer`
        below the grid.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> grid = lab.images(hits, limit=4, progress=False)
        >>> grid.page_count                    # one tile per series: 7 tiles, 4 on a page
        2
        """
        # ipywidgets, pydicom and Pillow load with the widgets: only once images are asked for.
        from dicomlab.notebook.widgets import ThumbnailGrid

        progress = validate_flag(progress, "progress")
        viewer = validate_flag(viewer, "viewer")
        limit = validate_count(limit, "limit", hint="the number of tiles on a page")
        size = validate_count(size, "size", hint="the tiles' width in pixels")
        validate_count(columns, "columns", hint="the number of tiles in a row")
        validate_count(concurrency, "concurrency", hint="how many images are fetched at once")
        rows = distinct_rows(self._real(df))
        # In share mode the tiles are built through the mode: captions, tooltips and errors
        # de-identified, risky images withheld; the store still fetches the real instances.
        store, shown_rows = self.store, self.shown(rows)

        def page(number: int) -> list[Tile]:
            return page_tiles(
                store,
                shown_rows.iloc[number * limit : (number + 1) * limit],
                size=size,
                media_type=media_type,
                progress=progress,
                concurrency=concurrency,
            )

        def open_series(tile: Tile) -> Any:
            study, series, instance = tile.uids
            return self.view_series(study, series, start=instance or None).widget

        return ThumbnailGrid(
            page(0),
            columns=columns,
            tile_size=size,
            on_open=open_series if viewer else None,
            page_count=max(1, -(-len(rows) // limit)),
            load_page=page,
        )

    def review(
        self,
        hits: pd.DataFrame,
        *,
        name: str,
        level: str = "series",
        reviewer: str | None = None,
        reasons: Sequence[str] = (),
        table: str = "review_decisions",
        size: int = 128,
        progress: bool = True,
    ) -> Review:
        """Review ``hits`` by looking: include or exclude each series (or instance).

        Shows the thumbnail grid with include / exclude buttons, a reason box
        and keys (see :mod:`dicomlab.notebook.review_grid`). Every decision is
        written to the warehouse table ``table`` as it is made, with
        ``reviewer`` (``$USER`` by default) and the time; opening the same
        ``name`` again shows the latest decisions. ``review.included()`` is
        ``hits`` without the excluded rows.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> review = lab.review(hits, name="doc-lung-qc", reviewer="ana", progress=False)
        >>> _ = review.decide(0, "exclude", reason="scout view")
        >>> review.counts()
        {'included': 0, 'excluded': 1, 'undecided': 3}
        """
        progress = validate_flag(progress, "progress")
        size = validate_count(size, "size", hint="the tiles' width in pixels")
        # In share mode the review works on shown hits and tiles; its log maps them back.
        store, hits = self.store, self.shown(self._real(hits))

        def tiles(rows: pd.DataFrame) -> Any:
            return page_tiles(store, rows, size=size, media_type="image/png",
                              progress=progress, concurrency=8)  # fmt: skip

        def open_series(tile: Any) -> Any:
            study, series, instance = tile.uids
            return self.view_series(study, series, start=instance or None).widget

        review = _SharedReview(
            hits,
            name=name,
            log=self.decision_log(table),
            level=level,
            reviewer=reviewer,
            reasons=reasons,
            tiles=tiles,
            on_open=open_series,
        )
        review._share = self._share  # None: a plain review, its errors as they are
        return review

    @scrubbed_errors
    def reviewed(
        self,
        hits: pd.DataFrame,
        *,
        review: str,
        level: str | None = None,
        table: str = "review_decisions",
    ) -> pd.DataFrame:
        """``hits`` without the rows that review ``review`` excluded (no widget).

        ``level`` defaults to the level the review's decisions were made at.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> review = lab.review(hits, name="doc-reviewed", reviewer="ana", progress=False)
        >>> _ = review.decide(hits.loc[[0]], "exclude", reason="motion")  # that row's series
        >>> len(lab.reviewed(hits, review="doc-reviewed")) == len(review.included()) < len(hits)
        True
        """
        log = self.decision_log(table)
        kept: pd.DataFrame = Review(
            self.shown(self._real(hits)), name=review, log=log, level=level, reviewer="-"
        ).included()
        return kept

    def decision_log(self, table: str = "review_decisions") -> DecisionLog:
        """The warehouse table of review decisions (in share mode, seen through it).

        >>> lab.decision_log()
        DecisionLog('duckdb:///.../warehouse.duckdb', table='review_decisions')
        """
        log = DecisionLog(self._warehouse, table)
        if self._share is None:
            return log
        return ShareDecisionLog(log, self._share)  # type: ignore[return-value]

    @scrubbed_errors
    def view_series(
        self, study: str, series: str, *, start: int | str | None = None, size: int = 512
    ) -> SeriesViewer:
        """A viewer of one series: instance and frame sliders, window presets, metadata.

        >>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
        >>> lab.view_series(hits.StudyInstanceUID[0], hits.SeriesInstanceUID[0])
        SeriesViewer(instance 1 of 1, frame 1 of 1, window from the image)
        """
        if self._share is None:
            return SeriesViewer(self._store, study, series, start=start, size=size)
        # Through the mode: the viewer only ever holds pseudonyms (its panel, path and slider).
        study, series = (self._share.pseudo.uid(self._real(str(u))) for u in (study, series))
        if isinstance(start, str):
            start = self._share.pseudo.uid(self._real(start))
        return SeriesViewer(self.store, study, series, start=start, size=size)
