"""A review for readers: the static HTML twin of the grid, and the summary figure.

The HTML shows each tile of the current page with its decision (coloured
status, reason, who and when on hover) and the counts, with the images
inlined, so a shared or exported notebook shows the review without a kernel.
Nothing in it can be changed.

>>> import pandas as pd
>>> table = pd.DataFrame({"decision": ["exclude", "undecided"], "reason": ["motion", ""],
...                       "items": [2, 1]})
>>> [t.get_text() for t in summary_figure(table, "qc").axes[0].get_yticklabels()]  # bottom up
['undecided', 'exclude: motion']
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dicomlab.notebook.drawing import FIGSIZE, enable_notebook_display
from dicomlab.notebook.review import status_html

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from dicomlab.notebook.review import Review
    from dicomlab.notebook.widgets import Tile

__all__ = ["review_html", "summary_figure"]

_COLOURS = {"include": "#1b7a2f", "exclude": "#b3261e", "undecided": "#9e9e9e"}


def review_html(review: Review, tiles: Sequence[tuple[int, Tile | None]], size: int = 128) -> str:
    """The tiles ``(position, tile)`` with their decisions, as self-contained HTML."""
    counts = ", ".join(f"{n} {state}" for state, n in review.counts().items())
    cells = []
    for position, tile in tiles:
        item = review.items.iloc[position]
        box = f"width:{size}px;height:{size}px;box-sizing:border-box;"
        if tile is not None and tile.image is not None:
            picture = (
                f'<img src="{tile.data_uri()}" alt="{html.escape(tile.caption)}" '
                f'style="{box}object-fit:contain;display:block;border:1px solid #ccc;">'
            )
        else:
            text = tile.short_message if tile is not None else "no thumbnail"
            style = f"{box}background:#eee;color:#555;font-size:11px;"
            picture = f'<div style="{style}">{html.escape(text)}</div>'
        caption = tile.caption if tile is not None else str(item["SeriesInstanceUID"])
        uids = " / ".join(str(u) for u in item if u)
        cells.append(
            f'<figure class="dicomlab-review-tile" title="{html.escape(uids)}" '
            f'style="margin:0;width:{size}px;">{picture}'
            f'<figcaption style="font-size:11px;">{position + 1}. {html.escape(caption)}'
            f"{status_html(review.state(position))}</figcaption></figure>"
        )
    grid = f"display:grid;grid-template-columns:repeat(6,{size}px);gap:8px;"
    return (
        f'<div class="dicomlab-review"><h4>Review {html.escape(review.name)} '
        f"({review.level} level)</h4><p>{html.escape(counts)}</p>"
        f'<div style="{grid}">{"".join(cells)}</div></div>'
    )


def summary_figure(table: pd.DataFrame, name: str) -> Figure:
    """Horizontal bars of items per decision and reason (a ``summary()`` table)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    enable_notebook_display()
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    ordered = table.iloc[::-1]  # largest group on top
    labels = [
        f"{d}: {r}" if r else d for d, r in zip(ordered["decision"], ordered["reason"], strict=True)
    ]
    colours = [_COLOURS.get(d, "#9e9e9e") for d in ordered["decision"]]
    ax.barh(labels, ordered["items"], color=colours)
    ax.set_xlabel("items")
    ax.set_title(f"Review {name}: {int(table['items'].sum())} items")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig
