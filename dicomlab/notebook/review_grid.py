"""The live review grid: thumbnails with include / exclude buttons, a reason box and keys.

Stock ipywidgets only (no JavaScript build). Keyboard keys go through a small
text box: click it, then type; each key acts on the *current* tile (framed in
blue) and is cleared from the box:

==========  ===========================================================
key         action
==========  ===========================================================
``n``       next tile (the next page when past the last tile of a page)
``p``       previous tile
``i``       include the current tile
``x``       exclude it, with the reason in the reason box
``1``–``9`` exclude it with reason 1–9 of the list shown in the help line
``o``       open its series in the viewer below the grid
==========  ===========================================================

A tile's status changes only after :meth:`~dicomlab.notebook.review.Review.decide`
has written the decision; when writing fails, the message says so and the
status stays as it was.

>>> import pandas as pd
>>> from dicomlab.notebook.review import Review
>>> from dicomlab.warehouses.decisions import DecisionLog
>>> from dicomlab.warehouses.duckdb import DuckDBWarehouse
>>> hits = pd.DataFrame({"StudyInstanceUID": ["1.2"] * 2, "SeriesInstanceUID": ["1.2.3", "1.2.4"]})
>>> review = Review(hits, name="keys", log=DecisionLog(DuckDBWarehouse(":memory:")), reviewer="ana")
>>> grid = ReviewGrid(review)
>>> grid.press("n"); grid.press("2"); review.decisions["reason"].tolist()
['motion']
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

from dicomlab.core.filterfile import UID_COLUMNS
from dicomlab.errors import DicomlabError
from dicomlab.notebook.review import describe, status_html

if TYPE_CHECKING:
    import ipywidgets

    from dicomlab.notebook.review import Review
    from dicomlab.notebook.widgets import Tile

__all__ = ["KEYS_HELP", "ReviewGrid"]

logger = logging.getLogger(__name__)
KEYS_HELP = (
    "Keys (click the key box, then type): n / p next / previous tile · i include · "
    "x exclude with the reason in the box · 1–9 exclude with that reason · o open"
)
_CURRENT, _OTHER = "3px solid #1976d2", "3px solid transparent"


class ReviewGrid:
    """The widget view of a :class:`~dicomlab.notebook.review.Review`.

    Parameters
    ----------
    review
        The review it shows and writes to.
    page_size, columns, tile_size
        Tiles per page, tiles per row, and the tiles' width in pixels.
    """

    def __init__(
        self, review: Review, *, page_size: int = 48, columns: int = 6, tile_size: int = 128
    ) -> None:
        self.review = review
        self.page_size, self.columns, self.tile_size = page_size, columns, tile_size
        self.current = 0
        self.message = ""
        self._pages: dict[int, list[Tile | None]] = {}
        self._widget: ipywidgets.VBox | None = None
        self._parts: dict[str, Any] = {}
        self._status: dict[int, Any] = {}
        self._boxes: dict[int, Any] = {}
        keys = list(UID_COLUMNS[:2] if review.level == "series" else UID_COLUMNS)
        # One hit row per item (same order as the items): captions and a representative image.
        self._rows = review.hits.drop_duplicates(keys).reset_index(drop=True)
        review.on_change(self._changed)

    @property
    def page(self) -> int:
        """The page the current tile is on (0-based)."""
        return self.current // self.page_size

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self.review) // self.page_size))

    def _positions(self, page: int) -> range:
        return range(page * self.page_size, min((page + 1) * self.page_size, len(self.review)))

    def page_tiles(self, page: int) -> list[Tile | None]:
        """The thumbnails of ``page`` (made on first visit; ``None`` without a tile maker)."""
        if page not in self._pages:
            positions = self._positions(page)
            made = (
                self.review.tiles(self._rows.iloc[positions.start : positions.stop])
                if (self.review.tiles is not None)
                else []
            )
            tiles: list[Tile | None] = list(made)
            self._pages[page] = tiles + [None] * (len(positions) - len(tiles))
        return self._pages[page]

    def tiles_for_html(self) -> list[tuple[int, Tile | None]]:
        """``(position, tile)`` of the current page, for the static twin."""
        return list(zip(self._positions(self.page), self.page_tiles(self.page), strict=True))

    # ---- actions (the buttons and keys call these; tests call them too) ----------------------

    def press(self, key: str) -> None:
        """Act on one key (see the module's table); other keys are ignored."""
        reasons = self.review.reasons
        if key == "n":
            self.move(self.current + 1)
        elif key == "p":
            self.move(self.current - 1)
        elif key == "i":
            self.decide(self.current, "include")
        elif key == "x":
            self.decide(self.current, "exclude", self._typed_reason())
        elif key.isdigit() and 1 <= int(key) <= min(9, len(reasons)):
            self.decide(self.current, "exclude", reasons[int(key) - 1])
        elif key == "o":
            self.open(self.current)

    def move(self, position: int) -> None:
        """Make ``position`` the current tile (within the items), turning the page if needed."""
        position = max(0, min(position, len(self.review) - 1))
        old_page, old = self.page, self.current
        self.current = position
        if self._widget is None:
            return
        if self.page != old_page:
            self._show_page()
        else:
            self._frame(old)
            self._frame(position)

    def decide(self, position: int, decision: str, reason: str | None = None) -> None:
        """Decide on one tile; a failure is shown in the message line, not raised."""
        self.current = position
        try:
            self.review.decide(position, decision, reason)
        except (DicomlabError, OSError) as exc:
            logger.warning("decision on item %d not recorded: %s", position, exc)
            self._say(f"not recorded: {exc}")
            return
        state = self.review.state(position)
        self._say(f"item {position + 1}: {describe(state)}")

    def open(self, position: int) -> None:
        """Show what the review's ``on_open`` makes of the tile below the grid."""
        tiles = self.page_tiles(position // self.page_size)
        tile = tiles[position % self.page_size]
        if self.review.on_open is None or tile is None or self._widget is None:
            return
        try:
            shown = self.review.on_open(tile)
        except Exception as exc:  # a failing viewer must not break the grid
            import ipywidgets

            shown = ipywidgets.HTML(f"<i>cannot open: {html.escape(str(exc))}</i>")
        self._parts["detail"].children = (shown,)

    def _typed_reason(self) -> str:
        return str(self._parts["reason"].value) if self._parts else ""

    def _say(self, text: str) -> None:
        self.message = text
        if self._parts:
            self._parts["message"].value = html.escape(text)

    def _changed(self, positions: list[int]) -> None:
        for position in positions:
            if position in self._status:
                self._status[position].value = status_html(self.review.state(position))
        if self._parts:
            self._parts["counts"].value = self._counts_text()

    def _counts_text(self) -> str:
        return ", ".join(f"{n} {state}" for state, n in self.review.counts().items())

    # ---- the widget -----------------------------------------------------------------------

    @property
    def widget(self) -> ipywidgets.VBox:
        """The live view, built on first access."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> ipywidgets.VBox:
        import ipywidgets

        reasons = self.review.reasons
        numbered = " · ".join(f"{i} {r}" for i, r in enumerate(reasons[:9], start=1))
        reason = ipywidgets.Combobox(
            options=reasons, placeholder="reason (pick or type)", ensure_option=False
        )
        keys = ipywidgets.Text(placeholder="key box: type n p i x 1-9 o", continuous_update=True)
        keys.add_class("dicomlab-review-keys")
        keys.observe(self._on_keys, names="value")
        self._parts = {
            "reason": reason,
            "keys": keys,
            "counts": ipywidgets.Label(self._counts_text()),
            "message": ipywidgets.HTML(html.escape(self.message)),
            "grid": ipywidgets.GridBox(
                layout=ipywidgets.Layout(
                    grid_template_columns=f"repeat({self.columns}, {self.tile_size + 6}px)",
                    grid_gap="8px",
                )
            ),
            "page": ipywidgets.Label(),
            "detail": ipywidgets.VBox(),
        }
        previous = ipywidgets.Button(description="◀ page")
        following = ipywidgets.Button(description="page ▶")
        previous.on_click(lambda _: self.move((self.page - 1) * self.page_size))
        following.on_click(lambda _: self.move((self.page + 1) * self.page_size))
        self._show_page()
        title = f"<b>Review {html.escape(self.review.name)}</b> ({self.review.level} level, "
        title += f"reviewer {html.escape(self.review.reviewer)})"
        help_line = f"<small>{html.escape(KEYS_HELP)}. Reasons: {html.escape(numbered)}</small>"
        return ipywidgets.VBox(
            [
                ipywidgets.HTML(title),
                ipywidgets.HTML(help_line),
                ipywidgets.HBox([reason, keys, self._parts["counts"]]),
                ipywidgets.HBox([previous, self._parts["page"], following]),
                self._parts["message"],
                self._parts["grid"],
                self._parts["detail"],
            ]
        )

    def _on_keys(self, change: dict[str, Any]) -> None:
        text = str(change["new"])
        if not text:
            return
        # Only the last key: the box may still hold keys acted on before it was cleared.
        self._parts["keys"].value = ""
        self.press(text[-1])

    def _show_page(self) -> None:
        positions = self._positions(self.page)
        tiles = self.page_tiles(self.page)
        self._status, self._boxes = {}, {}
        self._parts["grid"].children = [
            self._tile_widget(p, t) for p, t in zip(positions, tiles, strict=True)
        ]
        self._parts["page"].value = f"page {self.page + 1} of {self.page_count}"

    def _frame(self, position: int) -> None:
        if position in self._boxes:
            self._boxes[position].layout.border = _CURRENT if position == self.current else _OTHER

    def _tile_widget(self, position: int, tile: Tile | None) -> ipywidgets.VBox:
        import ipywidgets

        size = f"{self.tile_size}px"
        if tile is not None and tile.image is not None:
            picture: ipywidgets.Widget = ipywidgets.Image(
                value=tile.image,
                format=tile.media_type.split("/")[1],
                layout=ipywidgets.Layout(width=size, height=size, object_fit="contain"),
            )
        else:
            text = tile.short_message if tile is not None else "no thumbnail"
            picture = ipywidgets.HTML(
                f'<div style="width:{size};height:{size};display:flex;align-items:center;'
                f'justify-content:center;background:#eee;color:#555;font-size:11px;">'
                f"{html.escape(text)}</div>"
            )
        item = self.review.items.iloc[position]
        label = tile.caption if tile is not None else str(item["SeriesInstanceUID"])[-12:]
        caption = ipywidgets.HTML(
            f'<div title="{html.escape(" / ".join(u for u in item if u))}" '
            f'style="font-size:11px;overflow:hidden;">{position + 1}. {html.escape(label)}</div>'
        )
        status = ipywidgets.HTML(status_html(self.review.state(position)))
        include = ipywidgets.Button(description="include", layout=ipywidgets.Layout(width="50%"))
        exclude = ipywidgets.Button(description="exclude", layout=ipywidgets.Layout(width="50%"))
        include.on_click(lambda _: self.decide(position, "include"))
        exclude.on_click(lambda _: self.decide(position, "exclude", self._typed_reason()))
        parts = [picture, caption, status, ipywidgets.HBox([include, exclude])]
        if self.review.on_open is not None and tile is not None and any(tile.uids):
            button = ipywidgets.Button(description="open", layout=ipywidgets.Layout(width=size))
            button.on_click(lambda _: self.open(position))
            parts.append(button)
        box = ipywidgets.VBox(parts, layout=ipywidgets.Layout(width=f"{self.tile_size + 6}px"))
        box.add_class("dicomlab-review-tile")
        self._status[position], self._boxes[position] = status, box
        self._frame(position)
        return box
