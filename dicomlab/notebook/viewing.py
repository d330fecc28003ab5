"""What a series viewer shows, without widgets: instance order, windows, metadata, links.

>>> window_for("lung", None)
(-600.0, 1500.0)
>>> build_ohif_url(PUBLIC_OHIF_VIEWER, "1.2.3")
'https://viewer.ohif.org/viewer?StudyInstanceUIDs=1.2.3'
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from dicomlab.errors import InvalidRequestError, NotFoundError
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.paths import instance_path

if TYPE_CHECKING:
    import pandas as pd
    from pydicom import Dataset

__all__ = [
    "CUSTOM",
    "PUBLIC_OHIF_VIEWER",
    "WINDOW_PRESETS",
    "build_instance_location",
    "build_ohif_url",
    "instance_labels",
    "location_html",
    "location_line",
    "metadata_rows",
    "order_instances",
    "start_position",
    "window_for",
    "window_source_html",
]

logger = logging.getLogger(__name__)

PUBLIC_OHIF_VIEWER = "https://viewer.ohif.org/viewer"
#: ``(center, width)`` in modality units; ``"default"`` is the dataset's own window or VOI.
WINDOW_PRESETS: dict[str, tuple[float, float] | None] = {
    "default": None,
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
CUSTOM = "custom"
_PRESET_LABELS = {
    "default": "from the image",
    "lung": "lung −600/1500",
    "mediastinum": "soft tissue 40/400",
    "bone": "bone 400/1800",
    "brain": "brain 40/80",
    CUSTOM: "custom",
}
# No break opportunity inside a UID (no spaces, no break-all): lines break at <wbr> only.
_PATH_STYLE = "white-space:normal;word-break:normal;overflow-wrap:normal;"
#: The line under the window boxes, by :class:`~dicomlab.core.render.AppliedWindow` source.
_WINDOW_SOURCES = {
    "given": "",
    "dataset": "window: the DICOM's WindowCenter / WindowWidth",
    "voi-lut": "window: the DICOM's VOI LUT (no center / width)",
    "range": "window: the frame's range of values (the DICOM has none)",
    "colour": "colour image: no window applies",
}
_MISSING = "—"
_MESSAGE_STYLE = (
    "display:flex;align-items:center;justify-content:center;text-align:center;"
    "box-sizing:border-box;padding:8px;background:#eee;color:#555;border:1px dashed #bbb;"
)

# ---- pure helpers -------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is missing or not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN is missing


def _z(position: Any) -> float | None:
    """The third ImagePositionPatient value from a list or a ``a\\b\\c`` string."""
    if isinstance(position, str):
        position = position.split("\\")
    try:
        return _number(position[2])
    except (TypeError, IndexError, KeyError):
        return None


def _uid_key(uid: Any) -> tuple[tuple[int, int, str], ...]:
    """Sort UIDs component by component as numbers (``1.2.10`` after ``1.2.9``)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in str(uid).split(".")
    )


def order_instances(df: pd.DataFrame) -> pd.DataFrame:
    """Sort instances by InstanceNumber, then ImagePositionPatient z, then SOPInstanceUID.

    Missing numbers sort last; ImagePositionPatient is used only when the
    column is there (QIDO results seldom carry it).

    Parameters
    ----------
    df
        Instance search results with a ``SOPInstanceUID`` column.

    Returns
    -------
    pandas.DataFrame
        The rows in viewing order, with a fresh ``0..n-1`` index.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"SOPInstanceUID": ["1.10", "1.9", "1.2"],
    ...                    "InstanceNumber": pd.array([2, None, 2], dtype="Int64")})
    >>> order_instances(df)["SOPInstanceUID"].tolist()
    ['1.2', '1.10', '1.9']
    """
    records = df.to_dict("records")
    has_position = "ImagePositionPatient" in df.columns

    def key(position: int) -> tuple[Any, ...]:
        record = records[position]
        number = _number(record.get("InstanceNumber"))
        z = _z(record.get("ImagePositionPatient")) if has_position else None
        return (
            number is None,
            number or 0.0,
            z is None,
            z or 0.0,
            _uid_key(record.get("SOPInstanceUID")),
        )

    ordered: pd.DataFrame = df.iloc[sorted(range(len(records)), key=key)].reset_index(drop=True)
    return ordered


def _is_multi(value: Any) -> bool:
    """A multi-valued element (pydicom's ``MultiValue`` is a sequence), not text."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _first(value: Any) -> float | None:
    """The first value of a possibly multi-valued DS element."""
    if _is_multi(value):
        value = value[0] if len(value) else None
    return _number(value)


def window_for(preset: str, ds: Dataset | None) -> tuple[float, float] | None:
    """The ``(center, width)`` a preset stands for.

    ``"default"`` is the dataset's own (first) WindowCenter/WindowWidth, or
    ``None`` when it has none (the renderer then uses its VOI LUT or the
    frame's range).

    Parameters
    ----------
    preset
        A key of :data:`WINDOW_PRESETS`.
    ds
        The dataset whose window ``"default"`` reads; may be ``None``.

    Raises
    ------
    InvalidRequestError
        ``preset`` is not a key of :data:`WINDOW_PRESETS`.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.WindowCenter, ds.WindowWidth = ["40", "300"], ["400", "1500"]
    >>> window_for("default", ds), window_for("lung", ds)
    ((40.0, 400.0), (-600.0, 1500.0))
    >>> window_for("default", Dataset()) is None
    True
    """
    if preset not in WINDOW_PRESETS:
        raise InvalidRequestError(
            f"window preset {preset!r} is unknown; use one of {sorted(WINDOW_PRESETS)}",
            value=preset,
        )
    window = WINDOW_PRESETS[preset]
    if window is not None or ds is None:
        return window
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return center, width


def _text(value: Any) -> str:
    """A metadata value as text: multi-values joined, numbers without trailing zeros."""
    if value is None or value == "":
        return _MISSING
    if _is_multi(value):
        return " \\ ".join(_text(item) for item in value) or _MISSING
    number = _number(value) if not isinstance(value, str) else None
    return f"{number:g}" if number is not None else str(value)


def _date(value: Any) -> str:
    text = _text(value)
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _pair(ds: Dataset, first: str, second: str, separator: str) -> str:
    values = (ds.get(first), ds.get(second))
    if all(v is None or v == "" for v in values):
        return _MISSING
    return separator.join(_text(v) for v in values)


_METADATA: tuple[tuple[str, Callable[[Dataset], str]], ...] = (
    ("PatientID", lambda ds: _text(ds.get("PatientID"))),
    ("StudyDate", lambda ds: _date(ds.get("StudyDate"))),
    ("Modality", lambda ds: _text(ds.get("Modality"))),
    ("SeriesDescription", lambda ds: _text(ds.get("SeriesDescription"))),
    ("InstanceNumber", lambda ds: _text(ds.get("InstanceNumber"))),
    ("Rows × Columns", lambda ds: _pair(ds, "Rows", "Columns", " × ")),
    ("PixelSpacing", lambda ds: _text(ds.get("PixelSpacing"))),
    ("WindowCenter / Width", lambda ds: _pair(ds, "WindowCenter", "WindowWidth", " / ")),
    ("SliceLocation", lambda ds: _text(ds.get("SliceLocation"))),
    ("NumberOfFrames", lambda ds: _text(ds.get("NumberOfFrames") or 1)),
)


def metadata_rows(ds: Dataset) -> list[tuple[str, str]]:
    """The key attributes the viewer shows beside the image, as ``(label, text)``.

    Missing values are shown as ``"—"``.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.StudyDate, ds.Rows, ds.Columns, ds.PixelSpacing = "20040826", 512, 256, [0.5, 0.5]
    >>> dict(metadata_rows(ds))["StudyDate"], dict(metadata_rows(ds))["Rows × Columns"]
    ('2004-08-26', '512 × 256')
    >>> dict(metadata_rows(ds))["PixelSpacing"], dict(metadata_rows(ds))["Modality"]
    ('0.5 \\\\ 0.5', '—')
    """
    return [(label, read(ds)) for label, read in _METADATA]


def _table_html(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f'<tr><th style="text-align:left;padding-right:8px;">{html.escape(label)}</th>'
        f'<td style="text-align:left;">{html.escape(value)}</td></tr>'
        for label, value in rows
    )
    return f'<table class="dicomlab-metadata">{cells}</table>'


def instance_labels(instances: pd.DataFrame) -> list[str]:
    """Slider labels for instances in viewing order: InstanceNumber, else 1-based position.

    A number that is missing or repeated in the series is shown with its
    position, so every label names one instance.

    Examples
    --------
    >>> import pandas as pd
    >>> instance_labels(pd.DataFrame({"InstanceNumber": [1, 2, 5]}))
    ['1', '2', '5']
    >>> instance_labels(pd.DataFrame({"InstanceNumber": [3, 3, None]}))
    ['3 (#1)', '3 (#2)', '#3']
    """
    numbers = [
        _number(value)
        for value in (
            instances["InstanceNumber"]
            if "InstanceNumber" in instances
            else [None] * len(instances)
        )
    ]
    seen = [n for n in numbers if n is not None]
    labels = []
    for position, number in enumerate(numbers, start=1):
        if number is None:
            labels.append(f"#{position}")
        elif seen.count(number) > 1:
            labels.append(f"{number:g} (#{position})")
        else:
            labels.append(f"{number:g}")
    return labels


def location_html(location: str) -> str:
    """A DICOMweb path as HTML that wraps only after a ``/``, never inside a UID.

    >>> location_html("studies/1.2/series/1.2.3")
    '<code style="...">studies/<wbr>1.2/<wbr>series/<wbr>1.2.3</code>'
    >>> location_html("http://h/s/1.2")
    '<code style="...">http://h/<wbr>s/<wbr>1.2</code>'
    """
    # After each single "/" (not inside a scheme's "//").
    wrapped = re.sub(r"(?<!/)/(?!/)", "/<wbr>", html.escape(location))
    return f'<code style="{_PATH_STYLE}">{wrapped}</code>'


def build_instance_location(store_url: str, ref: InstanceRef) -> str:
    """The instance's DICOMweb path, prefixed with the store URL when it is http(s).

    Examples
    --------
    >>> ref = InstanceRef("1.2", "1.2.3", "1.2.3.4")
    >>> build_instance_location("file:///data/store", ref)
    'studies/1.2/series/1.2.3/instances/1.2.3.4'
    >>> build_instance_location("http://orthanc:8042/dicom-web/", ref)
    'http://orthanc:8042/dicom-web/studies/1.2/series/1.2.3/instances/1.2.3.4'
    """
    path = instance_path(ref)
    if _is_http(store_url):
        return f"{store_url.rstrip('/')}/{path}"
    return path


def build_ohif_url(base: str, study_uid: str) -> str:
    """An OHIF viewer link that opens a study.

    Examples
    --------
    >>> build_ohif_url(PUBLIC_OHIF_VIEWER, "1.2.3")
    'https://viewer.ohif.org/viewer?StudyInstanceUIDs=1.2.3'
    """
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'StudyInstanceUIDs': study_uid})}"


def _is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _frame_count(ds: Dataset | None) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1)) if ds is not None else 1
    except (TypeError, ValueError):
        return 1


def start_position(instances: pd.DataFrame, start: int | str | None, series_uid: str) -> int:
    """The viewer's first position: the middle, a position, or a SOPInstanceUID's.

    Raises
    ------
    NotFoundError
        ``start`` is a UID not in the series.
    InvalidRequestError
        ``start`` is a position out of range.
    """
    if start is None:
        return (len(instances) - 1) // 2
    if isinstance(start, str):
        matches = instances.index[instances["SOPInstanceUID"] == start]
        if not len(matches):
            raise NotFoundError(f"instance {start} is not in series {series_uid}")
        return int(matches[0])
    if not 0 <= start < len(instances):
        raise InvalidRequestError(
            f"start={start!r} is out of range; use 0 to {len(instances) - 1}", value=start
        )
    return start


def window_source_html(source: str) -> str:
    """The line under the window boxes: where the window shown comes from."""
    text = _WINDOW_SOURCES.get(source, "")
    return f'<span style="font-size:11px;color:#555;">{html.escape(text)}</span>' if text else ""


def location_line(store_url: str, ref: InstanceRef, ohif_base: str | None) -> str:
    """The instance's path in the store, and a link to the study in OHIF for http(s) stores."""
    text = location_html(build_instance_location(store_url, ref))
    if ohif_base and _is_http(store_url):
        link = html.escape(build_ohif_url(ohif_base, ref.study), quote=True)
        text += f' · <a href="{link}" target="_blank" rel="noopener">open in OHIF</a>'
    return text
