"""Notebook 05_review in JupyterLab: three tiles decided with the mouse and the keyboard.

JupyterLab serves a copy of ``notebooks/05_review.ipynb`` on 127.0.0.1 (the page
may talk to nothing else) and Debian's Chromium runs all its cells. Then a
reader clicks "exclude" under the first tile, and in the key box types ``n``
``i`` (include the second) and ``n`` ``2`` (exclude the third with reason 2).
Each tile must show its decision, and the warehouse table must hold the three
decisions, read from the kernel's DuckDB file by this process.

The browser is the session's ``chromium`` fixture (tests/browser/conftest.py);
JupyterLab serves only this notebook.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import loopback_page
from tests.support.lab_server import LabServer, lab_missing_reason
from tests.support.paths import NOTEBOOKS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = pytest.mark.slow

NOTEBOOK = NOTEBOOKS / "05_review.ipynb"
RUN_TIMEOUT_S = 240
ERROR_TEXT = re.compile(r"Traceback|\b(?:[A-Z]\w*)?(?:Error|Exception)\b")
_PROMPTS = """
() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
  .map((p) => p.textContent.trim())
"""


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    reason = lab_missing_reason()
    if reason is not None:
        pytest.skip(f"JupyterLab browser tests skipped: {reason}")
    notebooks = tmp_path_factory.mktemp("notebooks")
    shutil.copyfile(NOTEBOOK, notebooks / NOTEBOOK.name)
    server = LabServer.start(notebooks, tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(lab_server: LabServer, chromium: Browser) -> Iterator[Page]:
    with loopback_page(chromium, width=1400, height=1000, timeout_ms=30_000) as (page, _):
        yield page


def _run_all(page: Page, server: LabServer) -> None:
    page.goto(server.notebook_url(NOTEBOOK.name))
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
    page.get_by_text(re.compile(r"\|\s*Idle$")).first.wait_for()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    started = time.monotonic()
    while time.monotonic() - started < RUN_TIMEOUT_S:
        prompts = page.evaluate(_PROMPTS)
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return
        page.wait_for_timeout(250)
    pytest.fail(f"cells not run after {RUN_TIMEOUT_S} s; log:\n{server.log()[-2000:]}")


def _status(tile: Locator, text: str) -> None:
    """Wait until the tile's status line reads ``text``."""
    tile.locator(".dicomlab-review-status", has_text=text).wait_for()


def test_three_tiles_decided_with_mouse_and_keys_are_in_the_table(lab_server, page, tmp_path):
    from dicomlab.warehouses.decisions import DecisionLog
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    try:
        _run_all(page, lab_server)
        outputs = page.locator(".jp-Notebook .jp-OutputArea-output").all_inner_texts()
        assert not [t for t in outputs if ERROR_TEXT.search(t)], outputs
        review_cell = page.locator(".jp-Notebook .jp-CodeCell").filter(
            has=page.locator(".jp-InputArea", has_text="review = lab.review(")
        )
        tiles = review_cell.locator(".dicomlab-review-tile")
        assert tiles.count() == 4
        _status(tiles.nth(3), "excluded · low dose")  # decided from code in a later cell

        tiles.nth(0).get_by_role("button", name="exclude").click()  # the mouse
        _status(tiles.nth(0), "excluded")
        keys = review_cell.locator(".dicomlab-review-keys input")
        for key, tile, text in (("n", None, None), ("i", 1, "included"), ("n", None, None),
                                ("2", 2, "excluded · motion")):  # fmt: skip
            keys.click()
            keys.press(key)
            if tile is not None:
                _status(tiles.nth(tile), text)
            else:
                page.wait_for_function(
                    "(box) => box.value === ''", arg=keys.element_handle()
                )  # the kernel took the key
    except BaseException:
        page.screenshot(path=str(tmp_path / "05_review-failure.png"), full_page=True)
        print(f"screenshot: {tmp_path / '05_review-failure.png'}")
        raise

    home = lab_server.folder / "dicomlab-home"
    history = DecisionLog(DuckDBWarehouse(home / "warehouse.duckdb")).history("lung-qc")
    decided: dict[str, Any] = {}
    for row in history.sort_values("decided_at").itertuples():
        decided[row.SeriesInstanceUID] = (row.decision, row.reason)
    assert len(history) == 4  # three from the browser, one from code
    assert sorted(decided.values()) == [
        ("exclude", ""),
        ("exclude", "low dose"),
        ("exclude", "motion"),
        ("include", ""),
    ]
