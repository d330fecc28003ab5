"""A review of a cohort: include or exclude each series (or instance), kept in the warehouse.

:class:`Review` holds the hits, their distinct items and the latest decision
per item. :meth:`Review.decide` writes the decision to the warehouse's history
table (:class:`~dicomlab.warehouses.decisions.DecisionLog`) *before* anything
shows it as made, so a kernel that dies loses none that was shown. Opening the
same review again, in a new kernel or as a colleague on the same warehouse,
starts from the latest decisions in that table.

Its live view is a :class:`~dicomlab.notebook.review_grid.ReviewGrid` (tiles
with include / exclude buttons and keyboard keys); its static twin
(:meth:`Review.to_html`) shows the decisions on the thumbnails, not editable.

>>> hits = lab.query("patient_dicomweb_paths", patient_id="77654033")
>>> review = Review(hits, name="doc-qc", log=DecisionLog(lab.warehouse), reviewer="ana")
>>> review.counts()
{'included': 0, 'excluded': 0, 'undecided': 4}
>>> _ = review.decide(0, "exclude", reason="motion")
>>> len(review.included()) < len(hits), review.counts()["excluded"]
(True, 1)
"""

from __future__ import annotations

import contextlib
import html
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dicomlab.core.decisions import (
    DEFAULT_REASONS,
    REVIEW_ATTRS,
    decision_counts,
    included_rows,
    item_keys,
    latest_decisions,
    new_decision,
    review_items,
    select_items,
    summary_table,
    validate_decision,
    validate_level,
    validate_reason,
    validate_review_name,
    validate_reviewer,
)
from dicomlab.errors import InvalidIdentifierError, InvalidRequestError
from dicomlab.warehouses.decisions import DecisionLog

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from dicomlab.notebook.review_grid import ReviewGrid
    from dicomlab.notebook.widgets import Tile

__all__ = ["Review", "default_reviewer", "describe", "status_html"]

_SHOWN = ("decision", "reason", "reviewer", "decided_at")


def default_reviewer() -> str:
    """``$USER`` (else the login name), the reviewer's name when none is given."""
    name = os.environ.get("USER")
    if not name:
        import getpass

        with contextlib.suppress(OSError, KeyError):  # no such user in the password file
            name = getpass.getuser()
    if not name:
        raise InvalidIdentifierError(
            "no reviewer: $USER is not set; pass reviewer='your name'", value=name
        )
    return validate_reviewer(name)


class Review:
    """The decisions on one cohort's series or instances, kept in a warehouse table.

    Parameters
    ----------
    hits
        Query results with ``StudyInstanceUID``, ``SeriesInstanceUID`` (and
        ``SOPInstanceUID`` for ``level="instance"``).
    name
        The review's name (letters, digits, ``.``, ``_``, ``-``): the same name
        on the same warehouse is the same review.
    log
        Where decisions are written and read.
    level
        ``"series"`` or ``"instance"``: what one decision is about; ``None``
        takes the level of the decisions already made (``"series"`` when none).
    reviewer
        Recorded with each decision; ``$USER`` when ``None``.
    reasons
        Reasons offered besides :data:`~dicomlab.core.decisions.DEFAULT_REASONS`
        (any other text may still be typed).
    tiles
        Makes the thumbnails of some hit rows (one per item), for the grid.
    on_open
        Makes the widget that "open" shows for a tile (a series viewer).
    """

    def __init__(
        self,
        hits: pd.DataFrame,
        *,
        name: str,
        log: DecisionLog,
        level: str | None = "series",
        reviewer: str | None = None,
        reasons: Sequence[str] = (),
        tiles: Callable[[pd.DataFrame], Sequence[Tile]] | None = None,
        on_open: Callable[[Tile], Any] | None = None,
    ) -> None:
        self.name = validate_review_name(name)
        if level is not None:
            validate_level(level)
        history = log.history(self.name)
        if level is None:
            level = str(history["level"].iloc[0]) if len(history) else "series"
        self.level = validate_level(level)
        self.reviewer = validate_reviewer(reviewer) if reviewer is not None else default_reviewer()
        if isinstance(reasons, str):
            raise InvalidIdentifierError(
                f"reasons={reasons!r} is one text; give a list, e.g. reasons=[{reasons!r}]",
                value=reasons,
            )
        offered = [*DEFAULT_REASONS, *(validate_reason(r) for r in reasons)]
        self.reasons = list(dict.fromkeys(r for r in offered if r))
        self.hits = hits
        self.items = review_items(hits, self.level)
        self.log = log
        self.tiles = tiles
        self.on_open = on_open
        self._listeners: list[Callable[[list[int]], None]] = []
        self._grid: ReviewGrid | None = None
        self._set_latest(self._latest_of(history))

    def _set_latest(self, latest: pd.DataFrame) -> None:
        """Keep the latest decisions, and each item's state for the tiles to look up."""
        self._latest = latest
        records = latest[list(_SHOWN)].to_dict("records") if len(latest) else []
        self._states = dict(zip(item_keys(latest), records, strict=True))

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in self.counts().items())
        return f"Review({self.name!r}, level={self.level!r}, {len(self.items)} items: {counts})"

    def __len__(self) -> int:
        return len(self.items)

    def _latest_of(self, history: pd.DataFrame) -> pd.DataFrame:
        """The latest decision per item of this review's items, from the table's rows."""
        other = sorted(set(history["level"]) - {self.level}) if len(history) else []
        if other:
            raise InvalidRequestError(
                f"review {self.name!r} holds decisions at level {other[0]!r}, not "
                f"{self.level!r}: open it with level={other[0]!r}, or choose another name"
            )
        latest = latest_decisions(history)
        mine = set(item_keys(self.items))
        keep = [key in mine for key in item_keys(latest)]
        mine_only: pd.DataFrame = latest.loc[keep].reset_index(drop=True)
        return mine_only

    def refresh(self) -> None:
        """Read the decisions again (a colleague's, made since this review was opened)."""
        self._set_latest(self._latest_of(self.log.history(self.name)))
        self._notify(list(range(len(self.items))))

    def decide(self, which: object, decision: str, reason: str | None = None) -> pd.DataFrame:
        """Include or exclude items, and write the decision before returning.

        Parameters
        ----------
        which
            A tile position (``0`` is the first item), a list of positions, a
            ``(StudyInstanceUID, SeriesInstanceUID[, SOPInstanceUID])`` tuple,
            a list of those, or hit rows (a DataFrame).
        decision
            ``"include"`` or ``"exclude"``.
        reason
            Why (any short text; :attr:`reasons` lists the usual ones).

        Returns
        -------
        pandas.DataFrame
            The rows written to the history table. Bad input writes nothing.
        """
        import pandas as pd

        positions = select_items(self.items, which)
        decision, reason = validate_decision(decision), validate_reason(reason)
        rows = [
            new_decision(self.name, self.level, self.items.iloc[i], decision, reason, self.reviewer)
            for i in positions
        ]
        self.log.append(rows)  # in the table before anything shows it
        written: pd.DataFrame = pd.DataFrame(rows)
        self._set_latest(latest_decisions(pd.concat([self._latest, written], ignore_index=True)))
        self._notify(positions)
        written.attrs = {}
        return written

    def on_change(self, listener: Callable[[list[int]], None]) -> None:
        """Call ``listener(positions)`` after decisions on those items are written."""
        self._listeners.append(listener)

    def _notify(self, positions: list[int]) -> None:
        for listener in self._listeners:
            listener(positions)

    def state(self, position: int) -> dict[str, Any] | None:
        """The latest decision on item ``position`` (decision, reason, reviewer, time), or None."""
        state = self._states.get(item_keys(self.items.iloc[[position]])[0])
        return dict(state) if state is not None else None

    @property
    def decisions(self) -> pd.DataFrame:
        """The latest decision per decided item: UIDs, decision, reason, reviewer, time."""
        columns = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", *_SHOWN]
        frame: pd.DataFrame = self._latest[columns].copy()
        if self.level == "series":
            frame = frame.drop(columns="SOPInstanceUID")
        frame = frame.reset_index(drop=True)
        return frame

    def counts(self) -> dict[str, int]:
        """How many items are included, excluded and undecided."""
        return decision_counts(self.items, self._latest)

    def included(self) -> pd.DataFrame:
        """``hits`` without the rows of excluded items; notes the review for provenance."""
        kept = included_rows(self.hits, self._latest, self.level)
        kept.attrs = dict(self.hits.attrs)
        kept.attrs[REVIEW_ATTRS] = {
            "name": self.name,
            "level": self.level,
            "table": self.log.table,
            "warehouse": self.log.warehouse.url,
            **self.counts(),
        }
        return kept

    def summary(self) -> pd.DataFrame:
        """Items by decision and reason, undecided ones included."""
        return summary_table(self.items, self._latest)

    def figure(self) -> Figure:
        """A small bar chart of :meth:`summary` (a matplotlib Figure, no pyplot)."""
        from dicomlab.notebook.review_html import summary_figure

        return summary_figure(self.summary(), self.name)

    @property
    def widget(self) -> Any:
        """The live grid, built on first use (a :class:`~.review_grid.ReviewGrid`)."""
        return self.grid.widget

    @property
    def grid(self) -> ReviewGrid:
        """The :class:`~dicomlab.notebook.review_grid.ReviewGrid` of this review."""
        if self._grid is None:
            from dicomlab.notebook.review_grid import ReviewGrid

            self._grid = ReviewGrid(self)
        return self._grid

    def to_html(self) -> str:
        """The grid as static HTML: thumbnails with their decisions, not editable."""
        from dicomlab.notebook.review_html import review_html

        return review_html(self, self.grid.tiles_for_html())

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from dicomlab.notebook.widgets import display_bundle

        return display_bundle(self, self.widget, include, exclude)


def describe(state: dict[str, Any] | None) -> str:
    """A tile's status line: ``included``, ``excluded · motion`` or ``undecided``."""
    if state is None:
        return "undecided"
    word = "included" if state["decision"] == "include" else "excluded"
    return f"{word} · {state['reason']}" if state["reason"] else word


def status_html(state: dict[str, Any] | None) -> str:
    """:func:`describe` as coloured HTML, with who decided and when on hover."""
    colour = {"include": "#1b7a2f", "exclude": "#b3261e"}.get(
        state["decision"] if state else "", "#666"
    )
    title = f"{state['reviewer']}, {state['decided_at']}" if state else ""
    return (
        f'<div class="dicomlab-review-status" title="{html.escape(str(title))}" '
        f'style="font-size:11px;font-weight:bold;color:{colour};">'
        f"{html.escape(describe(state))}</div>"
    )
