"""Matplotlib plots of a cohort: modality mix, studies over time, instances per group.

Every function takes a DataFrame (from ``lab.query(...)``,
``lab.sql("SELECT * FROM dicom_metadata")`` or a store search) and returns a
:class:`matplotlib.figure.Figure` built without pyplot, so it works headless and
leaves no global figure behind. Pass ``ax=`` to draw into axes of your own.

Category charts are horizontal bars, sorted by count, so long modality, patient
and series labels stay readable; with more than ``max_bars`` groups the
per-series and per-patient plots become histograms. Missing values are shown
as ``"(none)"``, rows without a date are counted in the title, and a DataFrame
with no rows gives a figure that says so. Missing columns raise a
:class:`~dicomlab.errors.DicomlabError` that names them and a query that has them.

In Jupyter a Figure shows itself as a PNG: on first use these functions register
a PNG formatter for ``Figure`` with IPython, unless one is registered already
(``%matplotlib inline`` registers its own). matplotlib and pandas are imported
on first use, so ``import dicomlab.notebook.plots`` stays light.

>>> import pandas as pd
>>> df = pd.DataFrame({"PatientID": ["p1", "p1", "p2"], "StudyInstanceUID": ["1.1", "1.1", "1.2"],
...                    "SeriesInstanceUID": ["1.1.1", "1.1.2", "1.2.1"],
...                    "Modality": ["CT", "SR", "CT"], "StudyDate": ["20010102", "20010102", None]})
>>> fig = cohort_summary(df)
>>> [ax.get_title().splitlines()[1] for ax in fig.axes]  # doctest: +NORMALIZE_WHITESPACE
['2 studies', '1 study dated; 1 without a StudyDate, not shown', '3 series, 3 instances',
 '2 patients, 3 instances']
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dicomlab.core.queries import canned_columns
from dicomlab.core.validation import validate_frame
from dicomlab.errors import DicomlabError, InvalidRequestError
from dicomlab.notebook.drawing import (
    FIGSIZE,
    NONE_LABEL,
    canvas,
    count_text,
    enable_notebook_display,
    group_labels,
    histogram,
    message,
    numbers,
    period_bars,
    series_labels,
    sorted_bars,
    title_with,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FIGSIZE",
    "NONE_LABEL",
    "cohort_summary",
    "instances_per_patient",
    "instances_per_series",
    "modality_mix",
    "studies_over_time",
]

_ALL_COLUMNS = 'lab.sql("SELECT * FROM dicom_metadata")'
# by= level -> the UID column counted at that level.
_LEVELS = {
    "instances": "SOPInstanceUID",
    "series": "SeriesInstanceUID",
    "studies": "StudyInstanceUID",
    "patients": "PatientID",
}
# pandas offset class -> the period word in titles.
_PERIODS = {
    "YearBegin": "year",
    "YearEnd": "year",
    "QuarterBegin": "quarter",
    "QuarterEnd": "quarter",
    "MonthBegin": "month",
    "MonthEnd": "month",
    "Week": "week",
    "Day": "day",
}
_DATE = re.compile(r"^\s*(\d{4})[-.]?(\d{2})[-.]?(\d{2})")
_STUDY_DATES = (("StudyInstanceUID", "StudyDate"), ("StudyInstanceUID", "StudyDateTime"))


def modality_mix(df: pd.DataFrame, *, by: str = "instances", ax: Axes | None = None) -> Figure:
    """Bar chart of how many instances, series, studies or patients each Modality has.

    Parameters
    ----------
    df
        Rows with ``Modality`` and the UID column of the level: ``SOPInstanceUID``
        (or an ``InstanceCount`` column, for aggregated rows), ``SeriesInstanceUID``,
        ``StudyInstanceUID`` or ``PatientID``.
    by
        ``"instances"``, ``"series"``, ``"studies"`` or ``"patients"``: distinct
        UIDs are counted per modality. A study with CT and MR series counts once
        under each, so the bars can add up to more than the number of studies.
    ax
        Axes to draw into; by default a new figure of :data:`FIGSIZE`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"SeriesInstanceUID": ["1.1", "1.2", "1.3", "1.3"],
    ...                    "Modality": ["CT", "MR", "CT", "CT"]})
    >>> fig = modality_mix(df, by="series")
    >>> type(fig).__name__
    'Figure'
    >>> ax = fig.axes[0]
    >>> [t.get_text() for t in ax.get_yticklabels()], [int(p.get_width()) for p in ax.patches]
    (['CT', 'MR'], [2, 1])
    """
    level = _choice(by, _LEVELS, "by")
    uid = _LEVELS[level]
    choices = [("Modality", uid)] + (
        [("Modality", "InstanceCount")] if level == "instances" else []
    )
    columns = _pick_columns(df, f"modality_mix(by={by!r})", choices)
    own_figure = ax is None
    fig, ax = canvas(ax)
    title = f"{level.capitalize()} per modality"
    if columns is None or df.empty:
        return message(fig, ax, title, "no rows")
    keys = group_labels(df["Modality"])
    if columns[1] == "InstanceCount":
        counts = numbers(df["InstanceCount"]).groupby(keys).sum()
        total = int(counts.sum())
    else:
        counts = df[uid].groupby(keys).nunique()
        total = int(df[uid].nunique())
    sorted_bars(ax, counts, xlabel=level, own=fig if own_figure else None)
    title_with(ax, title, count_text(total, level))
    return fig


def studies_over_time(df: pd.DataFrame, *, freq: str = "YS", ax: Axes | None = None) -> Figure:
    """Bar chart of studies (distinct ``StudyInstanceUID``) per period of ``StudyDate``.

    A study's date is the earliest date among its rows. Studies without a
    readable date are counted and named in the title, not drawn; rows without a
    ``StudyInstanceUID`` are left out. Periods with no study are drawn as gaps,
    so the x axis is true time.

    Parameters
    ----------
    df
        Rows with ``StudyInstanceUID`` and ``StudyDate`` (``dbdate``, datetime64,
        ``datetime.date`` objects, or ``'YYYYMMDD'`` / ``'YYYY-MM-DD'`` strings),
        or ``StudyDateTime`` as ``latest_studies`` returns it.
    freq
        A pandas frequency: ``"YS"`` (years), ``"QS"``, ``"MS"``, ``"W"``, ``"D"``, ``"5YS"``…
    ax
        Axes to draw into; by default a new figure of :data:`FIGSIZE`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"StudyInstanceUID": ["1.1", "1.2", "1.3", "1.4"],
    ...                    "StudyDate": ["20010102", "2003-05-05", "20030101", None]})
    >>> fig = studies_over_time(df)
    >>> ax = fig.axes[0]
    >>> ax.get_title().splitlines(), [int(p.get_height()) for p in ax.patches]
    (['Studies per year', '3 studies dated; 1 without a StudyDate, not shown'], [1, 0, 2])
    """
    from pandas.tseries.frequencies import to_offset

    columns = _pick_columns(df, "studies_over_time", _STUDY_DATES)
    try:
        offset = to_offset(freq)
    except ValueError as exc:
        raise InvalidRequestError(
            f"freq={freq!r} is not a pandas frequency; use e.g. 'YS' (years), 'QS', 'MS' or 'W'",
            value=freq,
        ) from exc
    period = _PERIODS.get(type(offset).__name__, f"{freq} period")
    fig, ax = canvas(ax)
    title = f"Studies per {period}" if offset.n == 1 else f"Studies per {offset.n} {period}s"
    if columns is None or df.empty:
        return message(fig, ax, title, "no rows")
    uid, date_column = columns
    per_study = _parse_dates(df[date_column]).groupby(df[uid]).min()
    dated = per_study.dropna()
    undated = len(per_study) - len(dated)
    if dated.empty:
        return message(fig, ax, title, f"no {date_column} on any study ({count_text(undated)})")
    period_bars(ax, dated, offset)
    note = f"; {undated:,} without a {date_column}, not shown" if undated else ""
    title_with(ax, title, f"{count_text(len(dated))} dated{note}")
    return fig


def instances_per_series(df: pd.DataFrame, *, ax: Axes | None = None, max_bars: int = 20) -> Figure:
    """Instances per series: sorted labelled bars for a few series, a histogram for many.

    Uses the ``InstanceCount`` column when ``df`` has one (aggregated rows,
    summed per series; a missing count is 0), and counts rows otherwise (one
    row per instance).
    Bars are labelled with ``SeriesDescription`` when there is one, and the end
    of the UID.

    Parameters
    ----------
    df
        Rows with ``SeriesInstanceUID``.
    ax
        Axes to draw into; by default a new figure of :data:`FIGSIZE`.
    max_bars
        With more series than this, draw a histogram instead of bars.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"SeriesInstanceUID": ["1.2.3", "1.2.3", "1.2.4"],
    ...                    "SeriesDescription": ["T1 AX", "T1 AX", None]})
    >>> ax = instances_per_series(df).axes[0]
    >>> [t.get_text() for t in ax.get_yticklabels()], [int(p.get_width()) for p in ax.patches]
    (['T1 AX · …1.2.3', '1.2.4'], [2, 1])
    """
    return _instances_per(df, "SeriesInstanceUID", ("series", "series"), ax, max_bars)


def instances_per_patient(
    df: pd.DataFrame, *, ax: Axes | None = None, max_bars: int = 20
) -> Figure:
    """Instances per patient: sorted labelled bars for a few patients, a histogram for many.

    Uses the ``InstanceCount`` column when ``df`` has one (e.g. ``latest_studies``
    or ``series_per_patient`` output, summed per patient; a missing count is 0),
    and counts rows otherwise (one row per instance). A missing ``PatientID`` is ``"(none)"``.

    Parameters
    ----------
    df
        Rows with ``PatientID``.
    ax
        Axes to draw into; by default a new figure of :data:`FIGSIZE`.
    max_bars
        With more patients than this, draw a histogram instead of bars.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"PatientID": [f"p{i}" for i in range(30)] + ["p0"]})
    >>> ax = instances_per_patient(df).axes[0]
    >>> ax.get_xlabel(), [int(p.get_height()) for p in ax.patches]
    ('instances per patient', [29, 1])
    """
    return _instances_per(df, "PatientID", ("patient", "patients"), ax, max_bars)


def cohort_summary(df: pd.DataFrame, *, freq: str = "YS") -> Figure:
    """The four plots in one 2 × 2 figure; a panel the columns do not allow says why.

    Panels: studies per modality, studies over time (``freq``), instances per
    series, instances per patient.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"PatientID": ["p1", "p2"], "InstanceCount": [3, 4]})
    >>> fig = cohort_summary(df)
    >>> fig.axes[0].texts[0].get_text()
    'skipped: needs the columns Modality and StudyInstanceUID'
    >>> [int(p.get_width()) for p in fig.axes[3].patches]
    [4, 3]
    """
    from matplotlib.figure import Figure

    validate_frame(df, "df")
    fig = Figure(figsize=(2 * FIGSIZE[0], 2 * FIGSIZE[1]), layout="constrained")
    enable_notebook_display()
    panels: list[tuple[str, Sequence[tuple[str, ...]], Callable[[Axes], object]]] = [
        (
            "Studies per modality",
            [("Modality", "StudyInstanceUID")],
            _bind(modality_mix, df, by="studies"),
        ),
        ("Studies over time", _STUDY_DATES, _bind(studies_over_time, df, freq=freq)),
        ("Instances per series", [("SeriesInstanceUID",)], _bind(instances_per_series, df)),
        ("Instances per patient", [("PatientID",)], _bind(instances_per_patient, df)),
    ]
    for ax, (title, choices, draw) in zip(fig.subplots(2, 2).ravel(), panels, strict=True):
        if _lacking(df, choices):
            message(fig, ax, title, f"skipped: needs {_needs(choices)}")
        else:
            draw(ax)
    return fig


def _bind(
    plot: Callable[..., Figure], df: pd.DataFrame, **options: Any
) -> Callable[[Axes], object]:
    return lambda ax: plot(df, ax=ax, **options)


def _instances_per(
    df: pd.DataFrame, key: str, nouns: tuple[str, str], ax: Axes | None, max_bars: int
) -> Figure:
    singular, plural = nouns
    columns = _pick_columns(df, f"instances_per_{singular}", [(key,)])
    own_figure = ax is None
    fig, ax = canvas(ax)
    title = f"Instances per {singular}"
    if columns is None or df.empty:
        return message(fig, ax, title, "no rows")
    keys = group_labels(df[key])
    if "InstanceCount" in df.columns:
        counts = numbers(df["InstanceCount"]).groupby(keys).sum()
    else:
        counts = keys.value_counts()
    if len(counts) > max_bars:
        histogram(ax, counts.to_numpy(dtype="int64"), singular, plural)
        summary = f"median {counts.median():g}, max {counts.max():,}"
        title_with(ax, title, f"{count_text(len(counts), plural)}; {summary}")
        return fig
    if key == "SeriesInstanceUID":
        counts.index = series_labels(df, counts.index)
    sorted_bars(ax, counts, xlabel="instances", own=fig if own_figure else None)
    title_with(
        ax,
        title,
        f"{count_text(len(counts), plural)}, {count_text(int(counts.sum()), 'instances')}",
    )
    return fig


def _choice(value: str, table: dict[str, str], name: str) -> str:
    if value not in table:
        raise InvalidRequestError(
            f"{name}={value!r} is not one of {', '.join(map(repr, table))}", value=value
        )
    return value


def _lacking(df: pd.DataFrame, choices: Sequence[tuple[str, ...]]) -> list[str]:
    """The columns of the first choice that ``df`` lacks; empty when some choice is complete."""
    have = {str(column) for column in df.columns}
    if not have or any(set(group) <= have for group in choices):
        return []
    return [column for column in choices[0] if column not in have]


def _pick_columns(
    df: pd.DataFrame, plot: str, choices: Sequence[tuple[str, ...]]
) -> tuple[str, ...] | None:
    """The first complete choice of columns, ``None`` for a frame without columns, or raise."""
    have = [str(column) for column in df.columns]
    if not have:
        return None
    for group in choices:
        if set(group) <= set(have):
            return group
    missing = _lacking(df, choices)
    needs = _needs(choices)
    shown = ", ".join(have[:8]) + (f" and {len(have) - 8} more" if len(have) > 8 else "")
    canned = [
        f'lab.query("{name}", ...)'
        for name, columns in canned_columns().items()
        if any(set(group) <= set(columns) for group in choices)
    ]
    also = f"; so does {' or '.join(canned)}" if canned else ""
    raise DicomlabError(
        f"{plot} needs {needs}, but the DataFrame has no {', '.join(missing)} "
        f"(it has {shown}). {_ALL_COLUMNS} has every column{also}."
    )


def _needs(choices: Sequence[tuple[str, ...]]) -> str:
    """``"the columns A and B (or A and C)"``: the first choice of columns, then the others."""
    needs = f"the column{'s' if len(choices[0]) > 1 else ''} {' and '.join(choices[0])}"
    others = " or ".join(" and ".join(group) for group in choices[1:])
    return f"{needs} (or {others})" if others else needs


def _parse_dates(values: pd.Series) -> pd.Series:
    """Dates as datetime64 (``NaT`` when missing or unreadable), from any representation."""
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        normalized: pd.Series = values.dt.normalize()
        return normalized
    objects = values.astype(object)
    lookup = {value: _parse_date(value) for value in pd.unique(objects) if not pd.isna(value)}
    parsed: pd.Series = pd.to_datetime(objects.map(lookup))
    return parsed


def _parse_date(value: object) -> Any:
    """One date: ``datetime.date``, ``'YYYYMMDD'``, ``'YYYY-MM-DD'`` (or ``'YYYY.MM.DD'``)."""
    import pandas as pd

    text = value.isoformat() if isinstance(value, datetime.date) else str(value)
    match = _DATE.match(text)
    if not match:
        return pd.NaT
    year, month, day = (int(group) for group in match.groups())
    try:
        return pd.Timestamp(year=year, month=month, day=day)
    except ValueError:  # month 13, or out of pandas' range
        return pd.NaT
