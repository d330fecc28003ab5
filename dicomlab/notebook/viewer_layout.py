"""The series viewer's widgets and its static HTML twin, built from a viewer's parts.

:mod:`dicomlab.notebook.viewing` says what the viewer shows; this lays it out
(stock ipywidgets, imported on first use) and writes the HTML shown where
widgets are not (a saved notebook, nbconvert).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicomlab.notebook.viewing import _PRESET_LABELS, _frame_count

if TYPE_CHECKING:
    import ipywidgets

    from dicomlab.notebook.viewer import SeriesViewer

__all__ = ["static_html", "viewer_box", "window_controls"]


def static_html(viewer: SeriesViewer) -> str:
    """A viewer's current view as self-contained HTML: the image, the metadata and the path."""
    from dicomlab.notebook.widgets import ThumbnailGrid, Tile

    ref = viewer.current_ref
    frames = _frame_count(viewer.dataset)
    caption = f"instance {viewer.instance_slider.label} ({viewer.index + 1} of {len(viewer)})"
    if frames > 1:
        caption += f" · frame {viewer.frame + 1} of {frames}"
    tile = Tile(
        caption,
        viewer._image,
        error=viewer.message,
        uids=(ref.study, ref.series, ref.instance),
    )
    picture = ThumbnailGrid([tile], columns=1, tile_size=viewer.size).to_html()
    return (
        f'<div class="dicomlab-viewer">\n{picture}\n{viewer.metadata_panel.value}\n'
        f"<div>{viewer.location_label.value}</div>\n</div>"
    )


def window_controls() -> tuple[ipywidgets.Dropdown, ipywidgets.FloatText, ipywidgets.FloatText]:
    """The viewer's window preset dropdown and its center and width boxes."""
    import ipywidgets as w

    presets = w.Dropdown(
        options=[(label, key) for key, label in _PRESET_LABELS.items()],
        value="default",
        description="window",
        layout=w.Layout(width="max-content", min_width="260px"),
    )
    center = w.FloatText(description="center", layout=w.Layout(width="200px"))
    width = w.FloatText(description="width", layout=w.Layout(width="200px"))
    return presets, center, width


def viewer_box(viewer: SeriesViewer) -> ipywidgets.VBox:
    """The viewer's layout: image and metadata, sliders, window controls, path."""
    import ipywidgets as w

    return w.VBox(
        [
            w.HBox([w.VBox([viewer.image, viewer.placeholder]), viewer.metadata_panel]),
            viewer.instance_slider,
            viewer.frame_slider,
            w.HBox(
                [viewer.preset_dropdown, viewer.center_text, viewer.width_text],
                layout=w.Layout(flex_flow="row wrap"),
            ),
            viewer.window_label,
            viewer.location_label,
        ]
    )
