"""A series viewer for notebooks: stock ipywidgets over a store and the core renderer.

:class:`SeriesViewer` lists a series' instances with one search, orders them
(:func:`order_instances`), fetches each instance once (a small LRU cache) and
renders the chosen frame locally with :func:`dicomlab.core.render.render_frame`;
while an image is shown, its neighbours in the direction the slider moves are
fetched and rendered on a background thread
(:class:`~dicomlab.notebook.frames.SeriesFrames`), so the next one is ready.
Controls are an instance slider labelled with InstanceNumbers (hidden for a
single instance), a frame slider counting from 1 (hidden for single-frame
instances), window presets (:data:`WINDOW_PRESETS`) and window center and
width boxes that show the window the image is actually shown with, and where
it comes from. A frame that cannot be rendered shows a message in place of the
image; callbacks never raise.

Like :class:`~dicomlab.notebook.widgets.ThumbnailGrid`, the viewer's display bundle
carries the live widget view and a static HTML twin (the current image inlined
as a ``data:`` URI, and the metadata table).

ipywidgets, pandas and pydicom's pixel handling load on first use.

>>> mr = lab.store.search_instances(Modality="MR")
>>> series = mr["SeriesInstanceUID"].value_counts().index[0]
>>> study = mr.loc[mr["SeriesInstanceUID"] == series, "StudyInstanceUID"].iloc[0]
>>> viewer = SeriesViewer(lab.store, study, series)
>>> viewer.set_preset("lung")
>>> viewer
SeriesViewer(instance 4 of 7, frame 1 of 1, window (-600.0, 1500.0))
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dicomlab.core.validation import validate_count
from dicomlab.errors import InvalidRequestError, NotFoundError, RenderError
from dicomlab.notebook.frames import SeriesFrames, neighbours
from dicomlab.notebook.viewer_layout import static_html, viewer_box, window_controls
from dicomlab.notebook.viewing import (
    _MESSAGE_STYLE,
    CUSTOM,
    PUBLIC_OHIF_VIEWER,
    WINDOW_PRESETS,
    _frame_count,
    _table_html,
    build_instance_location,
    build_ohif_url,
    instance_labels,
    location_line,
    metadata_rows,
    order_instances,
    start_position,
    window_for,
    window_source_html,
)
from dicomlab.stores.base import InstanceRef, Store

if TYPE_CHECKING:
    import ipywidgets
    import pandas as pd
    from pydicom import Dataset

    from dicomlab.core.render import AppliedWindow

__all__ = [
    "PUBLIC_OHIF_VIEWER",
    "WINDOW_PRESETS",
    "SeriesViewer",
    "build_instance_location",
    "build_ohif_url",
    "metadata_rows",
    "order_instances",
    "window_for",
]

logger = logging.getLogger(__name__)


class SeriesViewer:
    """Browse one series: instance and frame sliders, window presets, metadata.

    Parameters
    ----------
    store
        Any :class:`~dicomlab.stores.base.Store` (folder or DICOMweb).
    study_uid, series_uid
        The series to show.
    size
        Largest side of the rendered image, in pixels.
    start
        The instance shown first: a position in viewing order, or a
        SOPInstanceUID; ``None`` shows the middle instance.
    ohif_base
        An OHIF viewer URL (e.g. :data:`PUBLIC_OHIF_VIEWER`) to link the study
        to, for http(s) stores; ``None`` shows the DICOMweb path only.
    cache_size
        How many fetched datasets to keep.
    prefetch
        How many neighbours of the image shown to fetch and render ahead, on
        a background thread; 0 renders only what is shown.

    Attributes
    ----------
    instance_slider, frame_slider, preset_dropdown, center_text, width_text
        The controls (``SelectionSlider`` whose values are 0-based positions and
        whose labels are InstanceNumbers or frame numbers from 1, ``Dropdown``,
        ``FloatText``).
    image, placeholder, metadata_panel, location_label, window_label
        The image, the text shown instead of it, the metadata table, the path
        and where the window shown in the boxes comes from.

    Raises
    ------
    NotFoundError
        The store has no instance in the series.

    Examples
    --------
    >>> mr = lab.store.search_instances(Modality="MR")
    >>> series = mr["SeriesInstanceUID"].value_counts().index[0]
    >>> study = mr.loc[mr["SeriesInstanceUID"] == series, "StudyInstanceUID"].iloc[0]
    >>> viewer = SeriesViewer(lab.store, study, series, size=384)
    >>> viewer.show(5); viewer.set_window(40, 400)
    >>> viewer.window, viewer.index, viewer.applied.source
    ((40.0, 400.0), 5, 'given')
    >>> viewer.close()    # no more rendering ahead
    """

    def __init__(
        self,
        store: Store,
        study_uid: str,
        series_uid: str,
        *,
        size: int = 512,
        start: int | str | None = None,
        ohif_base: str | None = None,
        cache_size: int = 16,
        prefetch: int = 4,
    ) -> None:
        validate_count(size, "size", hint="the viewer's width in pixels")
        validate_count(cache_size, "cache_size", hint="how many frames are kept decoded")
        validate_count(prefetch, "prefetch", minimum=0, hint="how many images to render ahead")
        self.store, self.size, self.ohif_base = store, size, ohif_base
        self.study_uid, self.series_uid = study_uid, series_uid
        found = store.search_instances(StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid)
        if found.empty:
            raise NotFoundError(
                f"series {series_uid} of study {study_uid} has no instances in {store.url}"
            )
        self._instances = order_instances(found)
        refs = [self._ref(index) for index in range(len(self._instances))]
        self._frames = SeriesFrames(
            store, refs, size=size, cache_size=cache_size, prefetch=prefetch
        )
        self._prefetch, self._step = prefetch, 1
        self._shown: int | None = None  # the position last loaded
        self._ds: Dataset | None = None
        self._image: bytes | None = None
        self._message: str | None = None
        self._syncing = False
        self.applied: AppliedWindow | None = None
        self._build_widgets()
        self._load(start_position(self._instances, start, series_uid))

    # ---- state ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._instances)

    def __repr__(self) -> str:
        state = self._message or f"window {self.window or 'from the image'}"
        return (
            f"{type(self).__name__}(instance {self.index + 1} of {len(self)}, "
            f"frame {self.frame + 1} of {_frame_count(self._ds)}, {state})"
        )

    @property
    def instances(self) -> pd.DataFrame:
        """The series' instances in viewing order (one search result row each)."""
        instances: pd.DataFrame = self._instances.copy()
        return instances

    @property
    def index(self) -> int:
        """Position of the instance shown, in viewing order (0-based)."""
        return int(self.instance_slider.value)

    @property
    def frame(self) -> int:
        """The frame shown (0-based)."""
        return int(self.frame_slider.value)

    @property
    def preset(self) -> str:
        """The window preset: a key of :data:`WINDOW_PRESETS`, or ``"custom"``."""
        return str(self.preset_dropdown.value)

    @property
    def window(self) -> tuple[float, float] | None:
        """The window asked for; ``None`` for the image's own (see :attr:`applied`)."""
        if self.preset == "default":
            return None
        return float(self.center_text.value), float(self.width_text.value)

    @property
    def current_ref(self) -> InstanceRef:
        """The instance shown."""
        return self._ref(self.index)

    @property
    def dataset(self) -> Dataset | None:
        """The dataset shown, or ``None`` if it could not be fetched."""
        return self._ds

    @property
    def message(self) -> str | None:
        """Why there is no image (shown in its place), or ``None``."""
        return self._message

    @property
    def widget(self) -> ipywidgets.VBox:
        """The live view (an ipywidgets ``VBox``)."""
        return self._box

    # ---- public actions -------------------------------------------------------------------

    def show(self, index: int) -> None:
        """Show the instance at ``index`` in viewing order (again, if it is shown already).

        >>> viewer.show(0)   # doctest: +SKIP
        """
        if not 0 <= index < len(self):
            raise InvalidRequestError(
                f"instance index {index!r} is out of range; the series has {len(self)} "
                f"instance(s): use 0 to {len(self) - 1}",
                value=index,
            )
        if index == self.index:
            self._safely(lambda: self._load(index))  # e.g. retry a failed fetch
        else:
            self.instance_slider.value = index

    def set_window(self, center: float, width: float) -> None:
        """Render with a custom window (modality units); the preset becomes ``"custom"``.

        >>> viewer.set_window(-600, 1500)   # doctest: +SKIP
        """
        if not float(width) > 0:
            raise InvalidRequestError(f"window width must be positive, got {width!r}", value=width)
        with self._quiet():
            self.center_text.value, self.width_text.value = float(center), float(width)
            self.preset_dropdown.value = CUSTOM
        self._render()

    def set_preset(self, name: str) -> None:
        """Use a window preset (a key of :data:`WINDOW_PRESETS`, or ``"custom"``).

        >>> viewer.set_preset("bone")   # doctest: +SKIP
        """
        if name != CUSTOM:
            window_for(name, None)  # validates the name
        self.preset_dropdown.value = name

    # ---- building -------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        import ipywidgets as w

        px = f"{self.size}px"
        labels = instance_labels(self._instances)
        self.instance_slider = w.SelectionSlider(
            # no value=: ipywidgets leaves the label empty when given value 0
            options=[(label, position) for position, label in enumerate(labels)],
            description="instance",
            continuous_update=False,
        )
        if len(self) == 1:  # nothing to move to
            self.instance_slider.layout.display = "none"
        self.frame_slider = w.SelectionSlider(options=[("1", 0)], description="frame")
        self.frame_slider.layout.display = "none"
        self.preset_dropdown, self.center_text, self.width_text = window_controls()
        self.window_label = w.HTML()
        self.image = w.Image(
            format="png", layout=w.Layout(width=px, height=px, object_fit="contain")
        )
        self.placeholder = w.HTML(layout=w.Layout(width=px, height=px, display="none"))
        self.metadata_panel = w.HTML()
        self.location_label = w.HTML()
        self._box = viewer_box(self)
        self._observe()

    def _observe(self) -> None:
        self.instance_slider.observe(self._on_instance, names="value")
        self.frame_slider.observe(self._on_frame, names="value")
        self.preset_dropdown.observe(self._on_preset, names="value")
        self.center_text.observe(self._on_window_text, names="value")
        self.width_text.observe(self._on_window_text, names="value")

    # ---- callbacks (never raise) ----------------------------------------------------------

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Change controls without their observers re-rendering."""
        previous, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = previous

    def _safely(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # a callback must never raise into the front end
            logger.warning("series viewer: %s", exc, exc_info=True)
            self._show_message(f"{type(exc).__name__}: {exc}")

    def _on_instance(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._safely(lambda: self._load(int(change["new"])))

    def _on_frame(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._safely(self._refresh)

    def _on_preset(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self._safely(self._refresh)

    def _on_window_text(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        with self._quiet():
            self.preset_dropdown.value = CUSTOM
        self._safely(self._render)

    # ---- loading and rendering ------------------------------------------------------------

    def _ref(self, index: int) -> InstanceRef:
        row = self._instances.iloc[index]
        return InstanceRef(self.study_uid, self.series_uid, str(row["SOPInstanceUID"]))

    def _load(self, index: int) -> None:
        """Show the instance at ``index``: fetch it, sync the controls, render."""
        ref = self._ref(index)
        if self._shown is not None and index != self._shown:
            self._step = 1 if index > self._shown else -1  # where the slider is going
        self._shown = index
        with self._quiet():
            self.instance_slider.value = index
        self.location_label.value = location_line(self.store.url, ref, self.ohif_base)
        try:
            self._ds = self._frames.dataset(index)
        except Exception as exc:  # a missing or unreadable instance is shown, not raised
            self._ds = None
            self.metadata_panel.value = ""
            self._sync_frames()
            self._show_message(f"cannot fetch instance {ref.instance}: {exc}")
            return
        self.metadata_panel.value = _table_html(metadata_rows(self._ds))
        self._sync_frames()
        self._refresh()

    def _sync_frames(self) -> None:
        """Fit the frame slider (numbered from 1) to the dataset shown; hide it for one frame."""
        frames = _frame_count(self._ds)
        with self._quiet():
            frame = min(self.frame, frames - 1)
            if len(self.frame_slider.options) != frames:
                self.frame_slider.options = [(str(n + 1), n) for n in range(frames)]
            self.frame_slider.value = frame
            self.frame_slider.layout.display = None if frames > 1 else "none"

    def _refresh(self) -> None:
        if self.preset != CUSTOM and self._ds is not None:
            window = window_for(self.preset, self._ds)  # the preset's, or None: the image's own
            if window is not None:
                with self._quiet():
                    self.center_text.value, self.width_text.value = window
        self._render()

    def _render(self) -> None:
        if self._ds is None:
            return
        window = self.window
        try:
            png, self.applied = self._frames.rendered(self.index, self.frame, window)
        except RenderError as exc:
            self.applied = None
            self._show_message(str(exc))
            return
        self._show_applied(self.applied)
        self._message, self._image = None, png
        self.image.value = png
        self.image.layout.display = None
        self.placeholder.layout.display = "none"
        self._render_ahead(window)

    def _render_ahead(self, window: tuple[float, float] | None) -> None:
        """Have the next frames (of a multi-frame instance) and instances rendered meanwhile."""
        frames = _frame_count(self._ds)
        targets = [(self.index, f) for f in neighbours(self.frame, 1, self._prefetch, frames)]
        around = neighbours(self.index, self._step, self._prefetch, len(self))
        targets += [(index, self.frame) for index in around]
        self._frames.prefetch(targets, window)

    def close(self) -> None:
        """Stop rendering ahead in the background (the viewer still works, without it)."""
        self._frames.close()

    def _show_applied(self, applied: AppliedWindow) -> None:
        """Put the window the image was shown with in the boxes, and say where it came from."""
        linear = applied.center is not None and applied.width is not None
        with self._quiet():
            if linear:
                self.center_text.value = round(float(applied.center or 0.0), 6)
                self.width_text.value = round(float(applied.width or 0.0), 6)
        # No center/width to show (a VOI LUT), or none that applies (colour): hide the boxes.
        for box in (self.center_text, self.width_text):
            box.layout.display = None if linear else "none"
        self.preset_dropdown.disabled = applied.source == "colour"
        self.window_label.value = window_source_html(applied.source)

    def _show_message(self, text: str) -> None:
        self._message, self._image = text, None
        self.placeholder.value = (
            f'<div style="{_MESSAGE_STYLE}height:100%;">{html.escape(text)}</div>'
        )
        self.placeholder.layout.display = None
        self.image.layout.display = "none"

    # ---- static twin ----------------------------------------------------------------------

    def to_html(self) -> str:
        """The current view as self-contained HTML: the image, the metadata and the path.

        >>> "<img" in viewer.to_html()   # doctest: +SKIP
        True
        """
        return static_html(self)

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Offer the live widget view and the static HTML; front ends pick what they support."""
        from dicomlab.notebook.widgets import display_bundle

        return display_bundle(self, self.widget, include, exclude)
