"""The review grid without a browser: buttons, keys, paging, failures, and the static twin."""

from __future__ import annotations

import errno

import pandas as pd
import pytest

from dicomlab.errors import LocalFileError
from dicomlab.notebook.review import Review
from dicomlab.notebook.review_grid import KEYS_HELP, ReviewGrid
from dicomlab.notebook.widgets import Tile
from dicomlab.warehouses.decisions import DecisionLog
from dicomlab.warehouses.duckdb import DuckDBWarehouse

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~"
    b"\x9bU\x00\x00\x00\nIDATx\x9cc`\x00\x00\x00\x02\x00\x01H\xaf\xa4q\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def hits() -> pd.DataFrame:
    series = [f"1.2.{n}" for n in range(1, 6)]
    return pd.DataFrame({"StudyInstanceUID": ["1.2"] * 5, "SeriesInstanceUID": series})


def _tiles(rows: pd.DataFrame) -> list[Tile]:
    return [
        Tile(f"series {s}", PNG, uids=(st, s, "")) for st, s in rows.iloc[:, :2].values.tolist()
    ]


@pytest.fixture
def review(hits) -> Review:
    log = DecisionLog(DuckDBWarehouse(":memory:"))
    return Review(hits, name="grid", log=log, reviewer="ana", tiles=_tiles, on_open=lambda t: None)


def _tile_parts(grid: ReviewGrid, position: int) -> tuple[object, object, object]:
    box = grid.widget.children[5].children[position]
    _picture, _caption, status, buttons, *_ = box.children
    include, exclude = buttons.children
    return status, include, exclude


def test_the_widget_documents_its_keys_and_reasons(review):
    help_line = review.grid.widget.children[1].value
    assert "n / p next / previous" in help_line and "1 wrong body part" in help_line
    assert KEYS_HELP.split(":")[0] in help_line


def test_buttons_write_the_decision_and_then_show_it(review):
    grid = review.grid
    status, include, exclude = _tile_parts(grid, 2)
    grid._parts["reason"].value = "motion"  # a reason typed in the box
    exclude.click()
    assert "excluded · motion" in status.value
    assert review.log.history("grid")["reason"].tolist() == ["motion"]
    include.click()
    assert "included" in status.value
    assert review.counts() == {"included": 1, "excluded": 0, "undecided": 4}
    assert "1 included" in grid._parts["counts"].value


def test_keys_move_between_tiles_and_decide(review):
    grid = review.grid
    grid.widget  # noqa: B018 - build it
    keys = grid._parts["keys"]
    for key in "nn2pi":  # to tile 3, exclude with reason 2, back to tile 2, include
        keys.value = key
        assert keys.value == ""  # each key is cleared once acted on
    latest = review.decisions.set_index("SeriesInstanceUID")
    assert latest.loc["1.2.3", "reason"] == review.reasons[1]
    assert latest.loc["1.2.2", "decision"] == "include"
    assert grid.current == 1
    assert grid._boxes[1].layout.border.startswith("3px solid #")
    assert grid._boxes[2].layout.border.endswith("transparent")


def test_keys_turn_pages(hits):
    log = DecisionLog(DuckDBWarehouse(":memory:"))
    review = Review(hits, name="pages", log=log, reviewer="ana", tiles=_tiles)
    grid = ReviewGrid(review, page_size=2)
    grid.widget  # noqa: B018 - build it
    for _ in range(3):
        grid.press("n")
    assert (grid.page, grid.current) == (1, 3)
    assert grid._parts["page"].value == "page 2 of 3"
    grid.press("x")
    assert review.state(3)["decision"] == "exclude"
    grid.press("p"), grid.press("p")
    assert grid.page == 0


def test_a_decision_that_cannot_be_written_is_not_shown_as_made(review, monkeypatch):
    def locked(rows):
        raise LocalFileError("the warehouse is locked", errno=errno.EAGAIN, filename="w.duckdb")

    monkeypatch.setattr(review.log, "append", locked)
    grid = review.grid
    status, include, _ = _tile_parts(grid, 0)
    include.click()
    assert "undecided" in status.value
    assert "not recorded" in grid._parts["message"].value
    assert review.counts()["undecided"] == 5


def test_the_static_twin_shows_decisions_and_images_but_no_controls(review):
    review.decide(0, "exclude", reason="burned-in text")
    review.decide(1, "include")
    page = review.to_html()
    assert page.count("<img") == 5
    assert "excluded · burned-in text" in page and "included" in page
    assert "1 included, 1 excluded, 3 undecided" in page
    assert "<button" not in page and "<input" not in page


def test_the_summary_figure_draws_one_bar_per_group(review):
    review.decide([0, 1], "exclude", reason="motion")
    figure = review.figure()
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["exclude: motion", "undecided"]
    assert [bar.get_width() for bar in figure.axes[0].patches] == [2, 3]


def test_open_shows_what_on_open_makes_of_the_current_tile(hits):
    import ipywidgets

    opened: list[Tile] = []

    def viewer(tile: Tile) -> ipywidgets.Label:
        opened.append(tile)
        return ipywidgets.Label(f"viewer of {tile.uids[1]}")

    log = DecisionLog(DuckDBWarehouse(":memory:"))
    review = Review(hits, name="open", log=log, reviewer="ana", tiles=_tiles, on_open=viewer)
    grid = review.grid
    grid.widget  # noqa: B018 - build it
    grid.press("n")
    grid.press("o")
    assert [t.uids[1] for t in opened] == ["1.2.2"]
    assert grid._parts["detail"].children[0].value == "viewer of 1.2.2"
    box = grid.widget.children[5].children[3]
    box.children[-1].click()  # the tile's own "open" button
    assert grid._parts["detail"].children[0].value == "viewer of 1.2.4"
