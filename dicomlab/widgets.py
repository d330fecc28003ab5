"""Thumbnail grids for notebooks: a live ipywidgets view and a static HTML twin.

A :class:`ThumbnailGrid` shows already-rendered images (see
:mod:`dicomlab.render`). In a front end with widget support it displays stock
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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dicomlab.errors import RenderError
from dicomlab.render import MEDIA_TYPES

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["WIDGET_VIEW_MIMETYPE", "ThumbnailGrid", "Tile"]

logger = logging.getLogger(__name__)

WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"

_PLACEHOLDER_STYLE = (
    "display:flex;align-items:center;justify-content:center;text-align:center;"
    "box-sizing:border-box;padding:4px;overflow:hidden;background:#eee;color:#555;"
    "font-size:11px;border:1px dashed #bbb;"
)
_CAPTION_STYLE = "font-size:11px;line-height:1.2;overflow:hidden;text-overflow:ellipsis;"


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
        """The text shown in place of a missing image."""
        return self.error or "no image"

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
    ) -> None:
        if columns < 1 or tile_size < 1:
            raise RenderError(
                f"columns and tile_size must be positive, got columns={columns!r}, "
                f"tile_size={tile_size!r}"
            )
        self._tiles = tuple(tiles)
        self.columns = columns
        self.tile_size = tile_size
        self.title = title
        self._widget: ipywidgets.VBox | None = None

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
        children: list[ipywidgets.Widget] = [grid]
        if self.title is not None:
            children.insert(0, ipywidgets.HTML(f"<b>{html.escape(self.title)}</b>"))
        logger.debug("built a widget grid of %d tiles", len(self._tiles))
        return ipywidgets.VBox(children)

    def _tile_widget(self, tile: Tile) -> ipywidgets.VBox:
        import ipywidgets

        size = f"{self.tile_size}px"
        box = ipywidgets.Layout(width=size, height=size)
        picture: ipywidgets.Widget
        if tile.image is None:
            picture = ipywidgets.HTML(
                f'<div style="{_PLACEHOLDER_STYLE}width:{size};height:{size};">'
                f"{html.escape(tile.message)}</div>",
                layout=box,
            )
        else:
            picture = ipywidgets.Image(
                value=tile.image,
                format=tile.media_type.split("/")[1],
                layout=ipywidgets.Layout(width=size, height=size, object_fit="contain"),
            )
        caption = ipywidgets.HTML(
            f'<div title="{html.escape(_tooltip(tile))}" style="{_CAPTION_STYLE}">'
            f"{html.escape(tile.caption)}</div>",
            layout=ipywidgets.Layout(width=size),
        )
        return ipywidgets.VBox([picture, caption], layout=ipywidgets.Layout(width=size))

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
        grid_style = f"display:grid;grid-template-columns:repeat({self.columns},{size}px);gap:8px;"
        grid = f'<div style="{grid_style}">\n{cells}\n</div>'
        return f'<div class="dicomlab-grid">\n{heading}{grid}\n</div>'

    def _tile_html(self, tile: Tile) -> str:
        size = self.tile_size
        box = f"width:{size}px;height:{size}px;"
        caption = html.escape(tile.caption)
        if tile.image is None:
            picture = f'<div style="{_PLACEHOLDER_STYLE}{box}">{html.escape(tile.message)}</div>'
        else:
            picture = (
                f'<img src="{tile.data_uri()}" alt="{caption}" '
                f'style="{box}object-fit:contain;display:block;">'
            )
        return (
            f'<figure title="{html.escape(_tooltip(tile))}" style="margin:0;width:{size}px;">'
            f'{picture}<figcaption style="{_CAPTION_STYLE}">{caption}</figcaption></figure>'
        )

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Offer the live widget view and the static HTML; front ends pick what they support."""
        bundle: dict[str, Any] = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/plain"] = repr(self)
        bundle["text/html"] = self.to_html()
        if include:
            bundle = {key: value for key, value in bundle.items() if key in include}
        if exclude:
            bundle = {key: value for key, value in bundle.items() if key not in exclude}
        return bundle


def _tooltip(tile: Tile) -> str:
    """Hover text: the study, series and instance UIDs that are known."""
    return " / ".join(uid for uid in tile.uids if uid)
