"""Thumbnail grids for notebooks: a live ipywidgets view and a static HTML twin.

A :class:`ThumbnailGrid` shows already-rendered images (see
:mod:`dicomlab.core.render`). In a front end with widget support it displays stock
ipywidgets; everywhere else (exported HTML, renderers without widget
JavaScript) it falls back to self-contained HTML with inline ``data:`` images.

Its display bundle carries both the widget view and ``text/html``. Live front
ends pick the widget; nbconvert's HTML exporter picks the widget too when the
notebook metadata holds widget state (as after an nbclient run), so static
exports should drop that state and the widget view first (see
:func:`dicomlab.demo.static_outputs`) to keep the ``<img>`` tags.

ipywidgets is imported on first use of :attr:`ThumbnailGrid.widget`.

>>> grid = ThumbnailGrid([Tile("CT 1", None, error="no pixel data")], columns=2)
>>> grid
ThumbnailGrid(1 tile, 1 without an image)
"""

from __future__ import annotations

import base64
import html
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dicomlab.core.render import MEDIA_TYPES
from dicomlab.errors import RenderError

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["WIDGET_VIEW_MIMETYPE", "ThumbnailGrid", "Tile", "display_bundle"]

logger = logging.getLogger(__name__)

WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"

_PLACEHOLDER_STYLE = (
    "display:flex;align-items:center;justify-content:center;text-align:center;"
    "box-sizing:border-box;padding:4px;overflow:hidden;background:#eee;color:#555;"
    "font-size:11px;line-height:1.2;border:1px dashed #bbb;overflow-wrap:anywhere;"
)
_CAPTION_STYLE = "font-size:11px;line-height:1.2;overflow:hidden;text-overflow:ellipsis;"
# A thin frame, so that an all-white (or all-black) image still reads as a tile.
_IMAGE_BORDER = "1px solid #ccc"
# A DICOM UID (four or more components): shortened in a tile to its last 8 characters.
_UID = re.compile(r"\b\d+(?:\.\d+){3,}\b")


@dataclass(frozen=True)
class Tile:
    """One thumbnail: an encoded image, or the reason there is none.

    Parameters
    ----------
    caption
        Short text shown under the image.
    image
        PNG or JPEG bytes, or ``None`` when the instance could not be rendered.
    media_type
        ``"image/png"`` or ``"image/jpeg"``.
    error
        Why ``image`` is missing; shown in the placeholder.
    uids
        ``(StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID)``.

    Examples
    --------
    >>> Tile("MR 3", b"\\x89PNG", uids=("1.2", "1.2.3", "1.2.3.4")).data_uri()
    'data:image/png;base64,iVBORw=='
    """

    caption: str
    image: bytes | None
    media_type: str = "image/png"
    error: str | None = None
    uids: tuple[str, str, str] = ("", "", "")

    def __post_init__(self) -> None:
        if self.media_type not in MEDIA_TYPES:
            raise RenderError(
                f"tile {self.caption!r} has media type {self.media_type!r}; "
                f"use one of {MEDIA_TYPES}"
            )

    @property
    def message(self) -> str:
        """Why there is no image (the whole text, shown on hover)."""
        return self.error or "no image"

    @property
    def short_message(self) -> str:
        """:attr:`message` with each UID cut to ``…`` and its last 8 characters, to fit a tile.

        >>> Tile("x", None, error="no pixels (instance 1.2.840.10008.5.1.4.1.1.2)").short_message
        'no pixels (instance …4.1.1.2)'
        """
        return _UID.sub(lambda match: "…" + match.group(0)[-8:].lstrip("."), self.message)

    def data_uri(self) -> str:
        """The image as a ``data:`` URI (empty when there is no image)."""
        if self.image is None:
            return ""
        return f"data:{self.media_type};base64,{base64.b64encode(self.image).decode('ascii')}"


class ThumbnailGrid:
    """A grid of thumbnails that displays as a widget, or as static HTML.

    Parameters
    ----------
    tiles
        The thumbnails, in display order.
    columns
        Tiles per row.
    tile_size
        Width and height of each image box, in CSS pixels.
    title
        Optional heading above the grid.
    on_open
        Called with a tile when its "open" button is pressed; the widget it
        returns (e.g. a series viewer) is shown below the grid. No buttons when
        ``None``.
    page_count, load_page
        For results larger than one page: ``tiles`` is page 0, and
        ``load_page(i)`` makes the tiles of page ``i`` (fetched on first visit,
        then kept). The widget gets previous/next buttons.

    Examples
    --------
    >>> grid = ThumbnailGrid([Tile("a", None, error="no pixels")], title="Series 1")
    >>> len(grid), "no pixels" in grid.to_html()
    (1, True)
    """

    def __init__(
        self,
        tiles: Sequence[Tile],
        *,
        columns: int = 6,
        tile_size: int = 128,
        title: str | None = None,
        on_open: Callable[[Tile], Any] | None = None,
        page_count: int = 1,
        load_page: Callable[[int], Sequence[Tile]] | None = None,
    ) -> None:
        if columns < 1 or tile_size < 1 or page_count < 1:
            raise RenderError(
                f"columns, tile_size and page_count must be positive, got columns={columns!r}, "
                f"tile_size={tile_size!r}, page_count={page_count!r}"
            )
        if page_count > 1 and load_page is None:
            raise RenderError(f"{page_count} pages need load_page to make pages after the first")
        self._pages: dict[int, tuple[Tile, ...]] = {0: tuple(tiles)}
        self._page = 0
        self.page_count = page_count
        self._load_page = load_page
        self.on_open = on_open
        self.columns = columns
        self.tile_size = tile_size
        self.title = title
        self._widget: ipywidgets.VBox | None = None
        self._parts: dict[str, Any] = {}

    @property
    def _tiles(self) -> tuple[Tile, ...]:
        return self._pages[self._page]

    @property
    def page(self) -> int:
        """The page shown (0-based)."""
        return self._page

    def show_page(self, page: int) -> None:
        """Show page ``page`` (0-based), making its tiles on first visit.

        >>> grid = ThumbnailGrid([Tile("a", None)], page_count=2,
        ...                      load_page=lambda i: [Tile(f"page {i}", None)])
        >>> grid.show_page(1); grid.tiles[0].caption
        'page 1'
        """
        if not 0 <= page < self.page_count:
            raise RenderError(f"page {page} does not exist; pages are 0 to {self.page_count - 1}")
        if page not in self._pages and self._load_page is not None:
            self._pages[page] = tuple(self._load_page(page))
        self._page = page
        if self._widget is not None:
            self._parts["grid"].children = [self._tile_widget(t) for t in self._tiles]
            self._parts["label"].value = self._page_text()
            self._parts["previous"].disabled = page == 0
            self._parts["next"].disabled = page == self.page_count - 1

    def _page_text(self) -> str:
        return f"page {self._page + 1} of {self.page_count}"

    @property
    def tiles(self) -> tuple[Tile, ...]:
        """The tiles, in display order."""
        return self._tiles

    def __len__(self) -> int:
        return len(self._tiles)

    @property
    def failed(self) -> list[Tile]:
        """The tiles that have no image."""
        return [tile for tile in self._tiles if tile.image is None]

    def __repr__(self) -> str:
        noun = "tile" if len(self) == 1 else "tiles"
        return f"{type(self).__name__}({len(self)} {noun}, {len(self.failed)} without an image)"

    @property
    def widget(self) -> ipywidgets.VBox:
        """The live view: a ``VBox`` of an optional title and a ``GridBox`` of tiles.

        Built on first access and reused afterwards.

        Examples
        --------
        >>> grid = ThumbnailGrid([Tile("a", None)], title="T")
        >>> [type(child).__name__ for child in grid.widget.children]
        ['HTML', 'GridBox']
        """
        if self._widget is None:
            self._widget = self._build_widget()
        return self._widget

    def _build_widget(self) -> ipywidgets.VBox:
        import ipywidgets

        size = f"{self.tile_size}px"
        grid = ipywidgets.GridBox(
            [self._tile_widget(tile) for tile in self._tiles],
            layout=ipywidgets.Layout(
                grid_template_columns=f"repeat({self.columns}, {size})", grid_gap="8px"
            ),
        )
        self._parts = {"grid": grid, "detail": ipywidgets.VBox()}
        children: list[ipywidgets.Widget] = [grid]
        if self.page_count > 1:
            children.insert(0, self._navigation())
        if self.title is not None:
            children.insert(0, ipywidgets.HTML(f"<b>{html.escape(self.title)}</b>"))
        if self.on_open is not None:
            children.append(self._parts["detail"])
        logger.debug("built a widget grid of %d tiles", len(self._tiles))
        return ipywidgets.VBox(children)

    def _navigation(self) -> ipywidgets.HBox:
        import ipywidgets

        previous = ipywidgets.Button(description="◀ previous", disabled=True)
        following = ipywidgets.Button(description="next ▶")
        label = ipywidgets.Label(self._page_text())
        previous.on_click(lambda _: self.show_page(self._page - 1))
        following.on_click(lambda _: self.show_page(self._page + 1))
        self._parts.update(previous=previous, next=following, label=label)
        return ipywidgets.HBox([previous, label, following])

    def open(self, tile: Tile) -> None:
        """Show what ``on_open`` makes of ``tile`` below the grid (the "open" button's action)."""
        if self.on_open is None:
            return
        self.widget  # noqa: B018 - build the widget (and its detail box) first
        try:
            shown = self.on_open(tile)
        except Exception as exc:  # a failing viewer must not break the grid
            import ipywidgets

            logger.warning("opening %s failed: %s", tile.caption, exc)
            shown = ipywidgets.HTML(
                f"<i>cannot open {html.escape(tile.caption)}: {html.escape(str(exc))}</i>"
            )
        self._parts["detail"].children = (shown,)

    def _tile_widget(self, tile: Tile) -> ipywidgets.VBox:
        import ipywidgets

        size = f"{self.tile_size}px"
        box = ipywidgets.Layout(width=size, height=size)
        picture: ipywidgets.Widget
        if tile.image is None:
            picture = ipywidgets.HTML(
                f'<div title="{html.escape(tile.message)}" '
                f'style="{_PLACEHOLDER_STYLE}width:{size};height:{size};">'
                f"{html.escape(tile.short_message)}</div>",
                layout=box,
            )
        else:
            picture = ipywidgets.Image(
                value=tile.image,
                format=tile.media_type.split("/")[1],
                layout=ipywidgets.Layout(
                    width=size, height=size, object_fit="contain", border=_IMAGE_BORDER
                ),
            )
        caption = ipywidgets.HTML(
            f'<div title="{html.escape(_tooltip(tile))}" style="{_CAPTION_STYLE}">'
            f"{_caption_html(tile.caption)}</div>",
            layout=ipywidgets.Layout(width=size),
        )
        parts: list[ipywidgets.Widget] = [picture, caption]
        if self.on_open is not None and any(tile.uids):
            button = ipywidgets.Button(
                description="open", tooltip=_tooltip(tile), layout=ipywidgets.Layout(width=size)
            )
            button.on_click(lambda _: self.open(tile))
            parts.append(button)
        return ipywidgets.VBox(parts, layout=ipywidgets.Layout(width=size))

    def to_html(self) -> str:
        """Return the grid as self-contained static HTML (images inlined as ``data:`` URIs).

        Examples
        --------
        >>> page = ThumbnailGrid([Tile("<b>", b"\\x89PNG"), Tile("x", None)]).to_html()
        >>> page.count("<img"), "&lt;b&gt;" in page, "<b>" in page
        (1, True, False)
        """
        size = self.tile_size
        cells = "\n".join(self._tile_html(tile) for tile in self._tiles)
        heading = f"<h4>{html.escape(self.title)}</h4>\n" if self.title is not None else ""
        if self.page_count > 1:
            heading += f"<p>{self._page_text()}</p>\n"
        grid_style = f"display:grid;grid-template-columns:repeat({self.columns},{size}px);gap:8px;"
        grid = f'<div style="{grid_style}">\n{cells}\n</div>'
        return f'<div class="dicomlab-grid">\n{heading}{grid}\n</div>'

    def _tile_html(self, tile: Tile) -> str:
        size = self.tile_size
        box = f"width:{size}px;height:{size}px;box-sizing:border-box;"
        caption = html.escape(tile.caption)
        if tile.image is None:
            picture = (
                f'<div title="{html.escape(tile.message)}" style="{_PLACEHOLDER_STYLE}{box}">'
                f"{html.escape(tile.short_message)}</div>"
            )
        else:
            picture = (
                f'<img src="{tile.data_uri()}" alt="{caption}" '
                f'style="{box}object-fit:contain;display:block;border:{_IMAGE_BORDER};">'
            )
        return (
            f'<figure title="{html.escape(_tooltip(tile))}" style="margin:0;width:{size}px;">'
            f'{picture}<figcaption style="{_CAPTION_STYLE}">{_caption_html(tile.caption)}'
            "</figcaption></figure>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Offer the live widget view and the static HTML; front ends pick what they support."""
        return display_bundle(self, self.widget, include, exclude)


def display_bundle(
    owner: Any, widget: Any, include: Any = None, exclude: Any = None
) -> dict[str, Any]:
    """``widget``'s view plus ``owner``'s ``repr`` and static ``to_html()``, filtered as asked."""
    bundle: dict[str, Any] = dict(widget._repr_mimebundle_() or {})
    bundle["text/plain"] = repr(owner)
    bundle["text/html"] = owner.to_html()
    if include:
        bundle = {key: value for key, value in bundle.items() if key in include}
    if exclude:
        bundle = {key: value for key, value in bundle.items() if key not in exclude}
    return bundle


def _caption_html(caption: str) -> str:
    """A caption whose `` · ``-separated parts never break inside (no ``2001-01-⏎01``).

    >>> _caption_html("CT · 2001-01-01").split(" · ")[1]
    '<span style="white-space:nowrap">2001-01-01</span>'
    """
    return " · ".join(
        f'<span style="white-space:nowrap">{html.escape(part)}</span>'
        for part in caption.split(" · ")
    )


def _tooltip(tile: Tile) -> str:
    """Hover text: the study, series and instance UIDs that are known."""
    return " / ".join(uid for uid in tile.uids if uid)
