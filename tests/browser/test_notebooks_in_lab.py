"""Notebooks 01, 02 and 04 in JupyterLab, in Debian's Chromium, as a reader runs them.

One JupyterLab serves a copy of ``notebooks/`` on 127.0.0.1 (every other host
is refused to the page); each test opens a notebook, runs all its cells from
the Run menu and checks that no output shows an error. In 04 it also pages the
thumbnail grid forward and opens a tile, moves each slider of the viewers and
picks each window preset, checking that the image follows. On a failure a
full-page screenshot is saved under the test's ``tmp_path`` and named in the
failure message.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import LOADED, NEW_IMAGE_LOADED, loopback_page
from tests.support.lab_server import LabServer, lab_missing_reason
from tests.support.paths import NOTEBOOKS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 240
STEP_TIMEOUT_MS = 30_000
# What an output shows when a cell or a widget callback failed.
ERROR_TEXT = re.compile(r"Traceback|\b(?:[A-Z]\w*)?(?:Error|Exception)\b")
# [prompt text of every code cell], and the kernel status in the status bar.
_PROGRESS = """
() => ({
  prompts: [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .map((p) => p.textContent.trim()),
  outputs: [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
    .map((o) => o.innerText),
})
"""


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab on a copy of the notebooks, all its state in a temporary folder."""
    reason = lab_missing_reason()
    if reason is not None:
        pytest.skip(f"JupyterLab browser tests skipped: {reason}")
    server = LabServer.start(NOTEBOOKS, tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def lab_page(chromium: Browser) -> Iterator[Page]:
    """A fresh JupyterLab-sized page that may only talk to 127.0.0.1."""
    with loopback_page(chromium, width=1400, height=1000, timeout_ms=STEP_TIMEOUT_MS) as (page, _):
        yield page


@pytest.fixture
def page(lab_server: LabServer, chromium: Browser) -> Iterator[Page]:
    """A page for one test, closed before the module's JupyterLab stops."""
    with lab_page(chromium) as page:
        yield page


@pytest.fixture(scope="module")
def image_browser(
    lab_server: LabServer, chromium: Browser, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Page]:
    """04_image_browser run in JupyterLab once, for the tests that use its widgets."""
    with lab_page(chromium) as page:
        with screenshot_on_failure(page, tmp_path_factory.mktemp("04"), "04_run"):
            seconds = run_all(page, lab_server, "04_image_browser.ipynb")
        print(f"\n04 in JupyterLab: all cells ran in {seconds:.1f} s")
        yield page


@contextlib.contextmanager
def screenshot_on_failure(page: Page, tmp_path: Path, name: str) -> Iterator[None]:
    """Save a full-page screenshot under ``tmp_path`` when the block fails, and name it."""
    try:
        yield
    except BaseException as exc:
        shot = tmp_path / f"{name}-failure.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{exc}\nscreenshot: {shot}") from exc


def run_all(page: Page, server: LabServer, name: str) -> float:
    """Open notebook ``name``, run all cells from the Run menu, wait for every cell to run.

    Returns the seconds the run took. Fails, with the log's tail, if a cell
    is still unrun after :data:`RUN_TIMEOUT_S`, and on any error text in an output.
    """
    page.goto(server.notebook_url(name))
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
    page.get_by_text(re.compile(r"\|\s*Idle$")).first.wait_for()  # the kernel is up
    started = time.monotonic()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    state: dict[str, Any] = {"prompts": [], "outputs": []}
    while time.monotonic() - started < RUN_TIMEOUT_S:
        state = page.evaluate(_PROGRESS)
        assert_no_error_text(state["outputs"], name)
        if state["prompts"] and all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"]):
            return time.monotonic() - started
        page.wait_for_timeout(250)
    pytest.fail(
        f"{name}: cells not run after {RUN_TIMEOUT_S} s (prompts {state['prompts']}); "
        f"JupyterLab's log ends with:\n{server.log()[-2000:]}"
    )


def assert_no_error_text(outputs: list[str], name: str) -> None:
    failed = [text for text in outputs if ERROR_TEXT.search(text)]
    assert not failed, f"{name}: an output shows an error:\n" + "\n---\n".join(failed)


def cell(page: Page, source: str) -> Locator:
    """The code cell whose source holds ``source``."""
    found = page.locator(".jp-Notebook .jp-CodeCell").filter(
        has=page.locator(".jp-InputArea", has_text=source)
    )
    assert found.count() == 1, f"{found.count()} cells hold {source!r}"
    return found


def wait_loaded(image: Locator) -> None:
    image.page.wait_for_function(LOADED, arg=image.element_handle())


def wait_new_image(image: Locator, old: str | None) -> str:
    """Wait until ``image`` shows another, loaded picture; return its ``src``."""
    image.page.wait_for_function(NEW_IMAGE_LOADED, arg=[image.element_handle(), old])
    return str(image.get_attribute("src"))


def slider(where: Locator, description: str) -> tuple[Locator, Locator]:
    """The handle and the readout of the slider labelled ``description``."""
    box = where.locator(".widget-slider").filter(
        has=where.page.get_by_text(description, exact=True)
    )
    return box.get_by_role("slider"), box.locator(".widget-readout")


def move(where: Locator, description: str, image: Locator) -> tuple[str, str]:
    """Press → on a slider; check the image and the readout change. Returns (before, after)."""
    handle, readout = slider(where, description)
    before, old = readout.inner_text(), image.get_attribute("src")
    handle.focus()
    handle.press("ArrowRight")
    wait_new_image(image, old)
    after = readout.inner_text()
    assert after != before, f"the {description} slider's readout stayed {before!r}"
    return before, after


# ---- the notebooks --------------------------------------------------------------------------


def test_quickstart_runs_in_jupyterlab(lab_server, page, tmp_path):
    with screenshot_on_failure(page, tmp_path, "01_quickstart"):
        run_all(page, lab_server, "01_quickstart.ipynb")
        bars = page.locator(".jp-OutputArea-output .widget-hprogress")
        assert bars.count() >= 2  # export_metadata and export_cohort
        text = page.locator(".jp-Notebook").inner_text()
        assert "Exporting metadata: 100%" in text.replace("\u2007", " ")
        grid = cell(page, "lab.images(hits").locator(".widget-gridbox").first
        images = grid.locator("img.widget-image")
        assert images.count() >= 1
        for number in range(images.count()):
            wait_loaded(images.nth(number))


def test_cohort_filter_file_runs_in_jupyterlab(lab_server, page, tmp_path):
    with screenshot_on_failure(page, tmp_path, "02_cohort_filter_file"):
        run_all(page, lab_server, "02_cohort_filter_file.ipynb")
        listing = cell(page, "lab.bucket.list()").locator(".jp-OutputArea").inner_text()
        names = re.findall(r"'([^']+)'", listing)
        assert [n for n in names if n.endswith(".txt")] == ["cohort-98890234.txt"], names
        assert any(n.endswith(".provenance.json") for n in names), names


def test_image_browser_tiles_sliders_and_presets_in_jupyterlab(image_browser, tmp_path):
    page = image_browser
    with screenshot_on_failure(page, tmp_path, "04_image_browser"):
        # "open" under a tile shows its series below the grid; the instance slider moves
        grid_cell = cell(page, "grid = lab.images(")
        grid = grid_cell.locator(".widget-gridbox").first
        for image in grid.locator("img.widget-image").all():
            wait_loaded(image)
        grid.get_by_role("button", name="open").first.click()
        detail = grid_cell.locator(".widget-gridbox ~ .widget-vbox").last
        opened = detail.locator("img.widget-image").first
        opened.wait_for()
        wait_loaded(opened)
        _, readout = slider(detail, "instance")
        assert readout.inner_text() == "1"  # InstanceNumbers, from 1

        # the full-size CT viewer: each preset sets the boxes and changes the image
        ct = cell(page, "ct_viewer.set_preset")
        image = ct.locator("img.widget-image").first
        wait_loaded(image)
        choose = ct.locator("select").first
        labels = [o.strip() for o in choose.locator("option").all_inner_texts()]
        assert len(labels) == 6, labels
        center = ct.locator(".widget-text").filter(has=page.get_by_text("center", exact=True))
        for label in labels:
            old = image.get_attribute("src")
            choose.select_option(label=label)
            if label != "custom":  # each preset differs from the one before it
                wait_new_image(image, old)
            expected = re.search(r"(−?-?\d+)/\d+$", label)
            if expected:
                number = float(expected.group(1).replace("−", "-"))
                page.wait_for_function(
                    "([input, n]) => Number(input.value) === n",
                    arg=[center.locator("input").element_handle(), number],
                )
            wait_loaded(image)
            assert_no_error_text([ct.inner_text()], f"preset {label!r}")

        # a multi-frame instance: frames count from 1; one instance, so no instance slider
        frames = cell(page, "NumberOfFrames")
        frames_image = frames.locator("img.widget-image").first
        wait_loaded(frames_image)
        assert move(frames, "frame", frames_image) == ("1", "2")
        assert not slider(frames, "instance")[0].is_visible()
        assert_no_error_text(page.evaluate(_PROGRESS)["outputs"], "04_image_browser")


def test_image_browser_instance_slider_fetches_the_next_instance_in_jupyterlab(
    image_browser, tmp_path
):
    page = image_browser
    with screenshot_on_failure(page, tmp_path, "04_instance_slider"):
        viewer = cell(page, "viewer = lab.view_series(")
        image = viewer.locator("img.widget-image").first
        before, after = move(viewer, "instance", image)
        assert int(after) == int(before) + 1
        assert_no_error_text([viewer.inner_text()], "the instance slider")


def test_image_browser_pages_forward_then_opens_a_tile_in_jupyterlab(image_browser, tmp_path):
    page = image_browser
    with screenshot_on_failure(page, tmp_path, "04_image_browser_page_2"):
        grid_cell = cell(page, "grid = lab.images(")
        grid = grid_cell.locator(".widget-gridbox").first
        first = grid.locator("img.widget-image").first
        old = first.get_attribute("src")
        grid_cell.get_by_role("button", name="next ▶").click()
        grid_cell.get_by_text("page 2 of 2").wait_for()
        wait_new_image(first, old)
        grid.get_by_role("button", name="open").first.click()
        detail = grid_cell.locator(".widget-gridbox ~ .widget-vbox").last
        # The viewer may replace its first image element as it loads: look again each time.
        page.wait_for_function(
            """(viewer) => Array.from(viewer.querySelectorAll("img.widget-image")).some(
                (img) => img.complete && img.naturalWidth > 0 && img.checkVisibility())""",
            arg=detail.element_handle(),
            timeout=10_000,
        )
        assert_no_error_text([detail.inner_text()], "the viewer opened from page 2")
