"""Drawing pieces shared by the cohort plots: canvases, bars, histograms and labels.

Pyplot-free matplotlib: a panel is drawn into axes of a :class:`~matplotlib.figure.Figure`
made here (or given by the caller), and IPython is taught to show such a Figure
as a PNG (:func:`enable_notebook_display`). matplotlib, numpy and pandas are
imported on first use.

>>> shorten("1.2.840.113619.2.55.3.604688119.868.1249")
'1.2.840.11361…88119.868.1249'
>>> count_text(1), count_text(1234, "instances")
('1 study', '1,234 instances')
"""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGSIZE",
    "NONE_LABEL",
    "canvas",
    "clip",
    "count_text",
    "enable_notebook_display",
    "figure_png",
    "group_labels",
    "histogram",
    "message",
    "numbers",
    "period_bars",
    "series_labels",
    "shorten",
    "sorted_bars",
    "title_with",
]

FIGSIZE = (6.0, 3.5)
"""Width and height, in inches, of a one-panel figure (a summary is 2 × 2 of these)."""

NONE_LABEL = "(none)"
"""The label of a missing or blank Modality, PatientID or SeriesInstanceUID."""

_LABEL_WIDTH = 28
_BAR_COLOR = "#4c72b0"
_SINGULAR = {"instances": "instance", "studies": "study", "patients": "patient"}


def canvas(ax: Axes | None) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    enable_notebook_display()
    if ax is None:
        fig = Figure(figsize=FIGSIZE, layout="constrained")
        return fig, fig.add_subplot()
    root: Any = ax.figure
    while not isinstance(root, Figure):  # a SubFigure: climb to the Figure it is in
        root = root.figure
    return root, ax


def message(fig: Figure, ax: Axes, title: str, text: str) -> Figure:
    """Leave a panel empty but for its title and a centred note."""
    title_with(ax, title)
    ax.set_axis_off()
    wrapped = textwrap.fill(text, width=60)
    ax.text(0.5, 0.5, wrapped, ha="center", va="center", color="0.35", transform=ax.transAxes)
    return fig


def group_labels(values: pd.Series) -> pd.Series:
    """Group keys as text: missing or blank values become ``"(none)"``."""
    text = values.astype("string").str.strip()
    return text.mask(text.isna() | (text == ""), NONE_LABEL).astype(object)


def numbers(values: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").fillna(0).astype("int64")


def shorten(label: str, width: int = _LABEL_WIDTH) -> str:
    """Cut the middle out of a long label, keeping its start and its distinctive end."""
    if len(label) <= width:
        return label
    head = (width - 1) // 2
    return f"{label[:head]}…{label[-(width - 1 - head) :]}"


def clip(text: str, width: int) -> str:
    """Collapse runs of spaces and cut the end off a long description."""
    text = " ".join(text.split())
    return text if len(text) <= width else f"{text[: width - 1]}…"


def count_text(n: int, noun: str = "studies") -> str:
    """``"1 study"``, ``"1,234 studies"``: a count and its noun, given in the plural."""
    return f"{n:,} {noun if n != 1 else _SINGULAR.get(noun, noun)}"


def title_with(ax: Axes, title: str, detail: str = "") -> None:
    """A title line and, below it, the counts behind the plot."""
    ax.set_title(f"{title}\n{detail}" if detail else title, fontsize=11)


def series_labels(df: pd.DataFrame, uids: pd.Index) -> list[str]:
    """``"description · …uid end"`` where a series has a description, else the shortened UID."""
    descriptions: dict[str, str] = {}
    if "SeriesDescription" in df.columns:
        known = group_labels(df["SeriesDescription"])
        known = known[known != NONE_LABEL].groupby(group_labels(df["SeriesInstanceUID"])).first()
        descriptions = {str(uid): str(text) for uid, text in known.items()}
    labels = []
    for uid in map(str, uids):
        text = descriptions.get(uid)
        labels.append(f"{clip(text, 16)} · …{uid[-8:]}" if text else shorten(uid))
    return labels


_FEW_BARS = 3
"""Fewer bars than this would be drawn fat: a figure of its own gets shorter instead."""


def sorted_bars(ax: Axes, counts: pd.Series, *, xlabel: str, own: Figure | None) -> None:
    """Horizontal bars, largest on top (ties in label order), with their values printed.

    The bars fill the axes from top to bottom (no empty band under a few bars):
    a figure made for them (``own``) is shortened to keep their thickness,
    while in axes the caller gave them, a few bars are drawn thinner.
    """
    from matplotlib.ticker import MaxNLocator

    counts = counts.sort_index(key=lambda index: index.map(str)).sort_values(
        ascending=False, kind="stable"
    )
    count = len(counts)
    few = max(count, 1) / _FEW_BARS if count < _FEW_BARS else 1.0
    if own is not None and few < 1:
        overhead = 1.2  # inches of title and x axis
        own.set_figheight(overhead + (FIGSIZE[1] - overhead) * few)
    height = 0.7 if own is not None else 0.7 * few
    positions = list(range(count))
    bars = ax.barh(positions, counts.to_numpy(dtype="int64"), height=height, color=_BAR_COLOR)
    ax.set_yticks(positions, labels=[shorten(str(label)) for label in counts.index])
    ax.set_ylim(max(count, 1) - 0.5, -0.5)  # top down, the last bar at the bottom
    ax.bar_label(bars, padding=2, fontsize=8)
    ax.margins(x=0.12)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", labelsize=7 if len(counts) > 10 else 9)


def histogram(ax: Axes, values: np.ndarray, singular: str, plural: str) -> None:
    """Histogram with integer-aligned bins; log-spaced when the counts span decades."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    low, high = int(values.min()), int(values.max())
    if low >= 1 and high > 100 and high > 50 * low:
        edges = np.unique(np.floor(np.geomspace(low, high + 1, 31))) - 0.5
        ax.set_xscale("log")
    else:
        width = max(1, -(-(high - low + 1) // 40))
        edges = np.arange(low - 0.5, high + 0.5 + width, width)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.hist(values, bins=edges.tolist(), color=_BAR_COLOR, edgecolor="white")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"instances per {singular}")
    ax.set_ylabel(plural)


def period_bars(ax: Axes, dated: pd.Series, offset: Any) -> None:
    """One bar per period from the first to the last dated study, empty periods included."""
    import matplotlib.dates as mdates
    import numpy as np
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

    first, last = offset.rollback(dated.min()), offset.rollback(dated.max())
    edges = pd.date_range(first, last + offset, freq=offset)
    codes = np.searchsorted(edges.to_numpy(), dated.to_numpy(), side="right") - 1
    counts = np.bincount(codes, minlength=len(edges) - 1)
    starts, ends = edges[:-1].to_pydatetime(), edges[1:].to_pydatetime()
    widths = [(end - start) * 0.9 for start, end in zip(starts, ends, strict=True)]
    bars = ax.bar(starts, counts, width=widths, align="edge", color=_BAR_COLOR)
    if len(counts) <= 30:
        ax.bar_label(bars, labels=[str(n) if n else "" for n in counts], padding=1, fontsize=8)
    locator = mdates.AutoDateLocator(maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(y=0.1)
    ax.set_ylabel("studies")


def enable_notebook_display() -> None:
    """Let IPython show a pyplot-free Figure as PNG, unless a Figure formatter exists."""
    if "IPython" not in sys.modules:
        return
    import IPython

    shell = IPython.get_ipython()
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", None)
    if not formatters or "image/png" not in formatters:
        return
    from matplotlib.figure import Figure

    if any(formatter.for_type(Figure) is not None for formatter in formatters.values()):
        return
    formatters["image/png"].for_type(Figure, figure_png)


def figure_png(fig: Figure) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()
