"""Thumbnail grids in the notebook: stock ipywidgets, with a static HTML twin.

A :class:`ThumbnailGrid` shows as a live widget where the front end runs
widget JavaScript (JupyterLab, Notebook, VS Code, Colab) and as plain HTML
with embedded base64 images everywhere else (nbconvert HTML, GitHub), because
its display bundle carries both.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

__all__ = ["WIDGET_VIEW_MIMETYPE", "ThumbnailGrid", "Tile"]

WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"
_FAILED_STYLE = (
    "display:flex;align-items:center;justify-content:center;text-align:center;"
    "background:#f3f3f3;color:#a33;font-size:11px;overflow:hidden;"
)


@dataclass(frozen=True)
class Tile:
    """One thumbnail: its image bytes (or why there are none) and a caption."""

    caption: str
    image: bytes | None
    media_type: str = "image/png"
    error: str | None = None
    uids: tuple[str, str, str] = ("", "", "")

    def data_uri(self) -> str:
        """The image as a ``data:`` URI (empty when there is no image)."""
        if self.image is None:
            return ""
        return f"data:{self.media_type};base64,{base64.b64encode(self.image).decode('ascii')}"


class ThumbnailGrid:
    """A grid of :class:`Tile` objects.

    Examples
    --------
    >>> grid = ThumbnailGrid([Tile("CT · 77654033", None, error="no pixel data")])
    >>> grid
    ThumbnailGrid(1 tiles, 1 without an image)
    >>> "no pixel data" in grid.to_html()
    True
    """

    def __init__(
        self,
        tiles: Sequence[Tile],
        *,
        columns: int = 6,
        tile_size: int = 128,
        title: str | None = None,
    ) -> None:
        self.tiles = list(tiles)
        self.columns = max(1, columns)
        self.tile_size = tile_size
        self.title = title

    def __len__(self) -> int:
        return len(self.tiles)

    @property
    def failed(self) -> list[Tile]:
        """The tiles that have no image."""
        return [t for t in self.tiles if t.image is None]

    def __repr__(self) -> str:
        return f"ThumbnailGrid({len(self)} tiles, {len(self.failed)} without an image)"

    def to_html(self) -> str:
        """A self-contained HTML grid (images embedded as base64)."""
        size = self.tile_size
        cells = []
        for tile in self.tiles:
            caption = html.escape(tile.caption)
            title = html.escape(" / ".join(u for u in tile.uids if u), quote=True)
            if tile.image is not None:
                body = (
                    f"<img src='{tile.data_uri()}' width='{size}' height='{size}' "
                    f"style='object-fit:contain;background:#000' alt='{caption}'>"
                )
            else:
                reason = html.escape(tile.error or "no image")
                body = f"<div style='width:{size}px;height:{size}px;{_FAILED_STYLE}'>{reason}</div>"
            cells.append(
                f"<figure style='margin:0' title='{title}'>{body}"
                f"<figcaption style='font-size:11px;max-width:{size}px'>{caption}"
                "</figcaption></figure>"
            )
        heading = f"<h4>{html.escape(self.title)}</h4>" if self.title else ""
        grid = (
            f"<div style='display:grid;grid-template-columns:repeat({self.columns},"
            f"{size}px);gap:6px'>{''.join(cells)}</div>"
        )
        return f"<div class='dicomlab-thumbnails'>{heading}{grid}</div>"

    def _repr_html_(self) -> str:
        return self.to_html()

    @cached_property
    def widget(self) -> Any:
        """The live ipywidgets view (built on first use)."""
        import ipywidgets as w

        size = f"{self.tile_size}px"
        cells = []
        for tile in self.tiles:
            if tile.image is not None:
                view: Any = w.Image(
                    value=tile.image,
                    format=tile.media_type.split("/")[-1],
                    layout=w.Layout(width=size, height=size),
                )
            else:
                view = w.HTML(
                    f"<div style='width:{size};height:{size};{_FAILED_STYLE}'>"
                    f"{html.escape(tile.error or 'no image')}</div>"
                )
            label = w.HTML(
                f"<span style='font-size:11px'>{html.escape(tile.caption)}</span>",
                layout=w.Layout(width=size),
            )
            cells.append(w.VBox([view, label]))
        grid = w.GridBox(
            cells,
            layout=w.Layout(
                grid_template_columns=f"repeat({self.columns}, {size})", grid_gap="6px"
            ),
        )
        parts = [w.HTML(f"<h4>{html.escape(self.title)}</h4>")] if self.title else []
        return w.VBox([*parts, grid])

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/html"] = self.to_html()
        bundle.setdefault("text/plain", repr(self))
        return bundle
