import base64

import ipywidgets as w
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from dicomlab.demo import static_outputs
from dicomlab.notebook.widgets import WIDGET_VIEW_MIMETYPE, ThumbnailGrid, Tile

PNG = b"\x89PNG\r\n\x1a\nfake"


def grid() -> ThumbnailGrid:
    return ThumbnailGrid(
        [
            Tile("CT · <script>alert(1)</script>", PNG, uids=("1.2", "1.2.3", "1.2.3.4")),
            Tile("MR", PNG, media_type="image/jpeg"),
            Tile("PT", None, error="instance 1.9 has no pixel data"),
        ],
        columns=2,
        tile_size=64,
        title="Hits",
    )


def test_widget_structure_and_values():
    view = grid().widget
    assert isinstance(view, w.VBox)
    title, box = view.children
    assert "Hits" in title.value
    assert isinstance(box, w.GridBox) and len(box.children) == 3
    assert box.layout.grid_template_columns == "repeat(2, 64px)"
    first, second, third = (cell.children for cell in box.children)
    assert isinstance(first[0], w.Image) and first[0].value == PNG and first[0].format == "png"
    assert second[0].format == "jpeg"
    assert isinstance(third[0], w.HTML) and "no pixel data" in third[0].value
    assert "&lt;script&gt;" in first[1].value and "<script>" not in first[1].value


def test_static_html_embeds_images_and_escapes():
    page = grid().to_html()
    assert page.count("<img") == 2
    assert base64.b64encode(PNG).decode() in page
    assert "data:image/jpeg;base64," in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "no pixel data" in page and "1.2 / 1.2.3 / 1.2.3.4" in page


def test_mimebundle_has_widget_and_static_html():
    bundle = grid()._repr_mimebundle_()
    assert WIDGET_VIEW_MIMETYPE in bundle and "<img" in bundle["text/html"]
    assert repr(grid()) == "ThumbnailGrid(3 tiles, 1 without an image)"
    assert len(grid()) == 3 and len(grid().failed) == 1


def test_static_export_keeps_html_over_widget_view():
    bundle = grid()._repr_mimebundle_()
    nb = new_notebook(
        cells=[new_code_cell("lab.images(df)", outputs=[new_output("display_data", data=bundle)])]
    )
    nb.metadata["widgets"] = {"state": {}}
    static = static_outputs(nb)
    data = static.cells[0].outputs[0]["data"]
    assert WIDGET_VIEW_MIMETYPE not in data and "<img" in data["text/html"]
    assert WIDGET_VIEW_MIMETYPE in nb.cells[0].outputs[0]["data"]  # original untouched
    assert "widgets" not in static.metadata
    nbformat.validate(static)


def test_real_thumbnails_round_trip_through_the_static_html():
    import re
    from io import BytesIO

    import pydicom
    from PIL import Image
    from pydicom.data import get_testdata_file

    from dicomlab.core.render import render_dataset

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    page = ThumbnailGrid([Tile("CT", render_dataset(ds, size=48))]).to_html()
    (payload,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert Image.open(BytesIO(base64.b64decode(payload))).size == (48, 48)


def test_grid_without_title_and_cached_widget():
    plain = ThumbnailGrid([Tile("a", PNG)], columns=1)
    (box,) = plain.widget.children
    assert isinstance(box, w.GridBox) and plain.widget is plain.widget
    assert "<h4>" not in plain.to_html() and plain._repr_html_() == plain.to_html()
    assert repr(plain) == "ThumbnailGrid(1 tile, 0 without an image)"


def test_mimebundle_include_and_exclude():
    bundle = grid()._repr_mimebundle_(include={"text/html"})
    assert set(bundle) == {"text/html"}
    bundle = grid()._repr_mimebundle_(exclude={WIDGET_VIEW_MIMETYPE})
    assert set(bundle) == {"text/html", "text/plain"}
    assert grid()._repr_mimebundle_()["text/plain"] == repr(grid())


def test_bad_tiles_and_layouts_are_refused():

    from dicomlab.errors import RenderError

    with pytest.raises(RenderError, match="image/gif"):
        Tile("x", PNG, media_type="image/gif")
    with pytest.raises(RenderError, match="columns=0"):
        ThumbnailGrid([], columns=0)


def test_html_export_picks_widget_view_when_state_is_saved():
    import re

    from nbconvert import HTMLExporter

    bundle = grid()._repr_mimebundle_()
    model_id = bundle[WIDGET_VIEW_MIMETYPE]["model_id"]
    nb = new_notebook(cells=[new_code_cell("grid", outputs=[new_output("display_data", bundle)])])
    # What nbclient writes after a run (store_widget_state=True by default).
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {model_id: {"model_name": "VBoxModel", "state": {}}},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    live, _ = HTMLExporter().from_notebook_node(nb)
    assert "<img" not in live and f'<script type="{WIDGET_VIEW_MIMETYPE}">' in live
    static, _ = HTMLExporter().from_notebook_node(static_outputs(nb))
    assert len(re.findall(r'<img[^>]* src="data:image/(?:png|jpeg);base64,', static)) == 2


def test_pages_are_made_on_first_visit_and_kept():
    made = []

    def load(page):
        made.append(page)
        return [Tile(f"p{page}", PNG, uids=("1.2", "1.2.3", f"1.2.3.{page}"))]

    grid = ThumbnailGrid([Tile("p0", PNG)], page_count=3, load_page=load)
    nav, box = grid.widget.children
    previous, label, following = nav.children
    assert label.value == "page 1 of 3" and previous.disabled and not following.disabled
    following.click()
    following.click()
    assert made == [1, 2] and grid.page == 2 and following.disabled
    assert box.children[0].children[1].value.count("p2") == 1
    previous.click()
    assert made == [1, 2] and label.value == "page 2 of 3"
    assert "page 2 of 3" in grid.to_html() and "p1" in grid.to_html()


def test_open_button_shows_what_on_open_makes_below_the_grid():
    opened = []

    def on_open(tile):
        opened.append(tile.uids)
        return w.HTML(f"viewer of {tile.uids[1]}")

    grid = ThumbnailGrid(
        [Tile("a", PNG, uids=("1.2", "1.2.3", "1.2.3.4")), Tile("b", None)], on_open=on_open
    )
    box, detail = grid.widget.children
    first, second = box.children
    button = first.children[-1]
    assert isinstance(button, w.Button) and len(second.children) == 2  # no UIDs: no button
    button.click()
    assert opened == [("1.2", "1.2.3", "1.2.3.4")]
    assert detail.children[0].value == "viewer of 1.2.3"


def test_a_failing_viewer_is_a_message_not_an_exception():
    def on_open(tile):
        raise RuntimeError("no pixels here")

    grid = ThumbnailGrid([Tile("a", PNG, uids=("1.2", "1.2.3", "1.2.3.4"))], on_open=on_open)
    grid.open(grid.tiles[0])
    assert "no pixels here" in grid.widget.children[-1].children[0].value


# ---- how tiles and summaries read --------------------------------------------------------

LONG_UID = "1.2.826.0.1.3680043.8.498.27000547446331316903269126658207160710"


def test_image_tiles_have_a_border_so_an_all_white_image_shows():
    view = grid().widget
    images = [cell.children[0] for cell in view.children[1].children[:2]]
    assert all(image.layout.border == "1px solid #ccc" for image in images)
    page = grid().to_html()
    assert page.count("border:1px solid #ccc") == 2  # the two images, not the placeholder


def test_a_placeholder_with_a_uid_fits_its_tile_and_keeps_the_uid_on_hover():
    size = 96
    tile = Tile("CT", None, error=f"no pixel data (instance {LONG_UID})")
    assert tile.short_message == "no pixel data (instance …07160710)"
    # about 6 px a character at 11 px: every word fits the tile's width, the lines its height
    words = tile.short_message.split()
    assert max(len(word) for word in words) * 6 <= size - 8
    assert len(" ".join(words)) * 6 / (size - 8) * 13 <= size
    page = ThumbnailGrid([tile], tile_size=size).to_html()
    widget = ThumbnailGrid([tile], tile_size=size).widget.children[0].children[0].children[0]
    for html_text in (page, widget.value):
        assert f'title="no pixel data (instance {LONG_UID})"' in html_text
        assert "overflow-wrap:anywhere" in html_text and "overflow:hidden" in html_text


def test_caption_parts_never_break_inside():
    tile = Tile("77654033 · 2001-01-01 · CT · Chest", PNG)
    for text in (
        ThumbnailGrid([tile]).to_html(),
        ThumbnailGrid([tile]).widget.children[0].children[0].children[1].value,
    ):
        assert '<span style="white-space:nowrap">2001-01-01</span>' in text
        assert '<span style="white-space:nowrap">77654033</span>' in text


def test_filter_file_display_wraps_only_between_path_parts():
    import re

    from dicomlab.core.filterfile import FilterFile

    ff = FilterFile([f"/studies/{LONG_UID}/series/{LONG_UID[:-3]}.1"])
    page = ff._repr_html_()
    assert "max-width:100%" in page
    pieces = re.sub(r"<[^>]+>", "\n", page.replace("<wbr>", "\n")).split("\n")
    assert max(len(piece) for piece in pieces) <= 66  # a UID at most: fits a narrow cell
    assert f"<wbr>/{LONG_UID}<wbr>/" in page


def test_lab_summary_values_are_left_aligned(tmp_path):
    import re

    import dicomlab

    page = dicomlab.connect(home=tmp_path)._repr_html_()
    cells = re.findall(r"<td[^>]*>", page)
    assert len(cells) == 4 and all("text-align:left" in cell for cell in cells)
