"""The image browser notebook in a real browser: Voilà runs it, Debian's Chromium shows it.

What a reader of ``notebooks/04_image_browser.ipynb`` does, checked end to end:
the thumbnail grid's images load, a tile's "open" button shows a series viewer
below the grid, and the viewer's instance slider changes the image shown. The
page may only talk to 127.0.0.1: every other request is aborted (Voilà's
template asks a CDN for an icon font; the images must show without it).

A screenshot of the grid and the opened viewer is saved under the test's
``tmp_path``; its path is printed (``pytest -s``) and recorded as the
``screenshot`` property (``--junitxml``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.browser import LOADED, NEW_IMAGE_LOADED, loopback_page
from tests.support.paths import NOTEBOOKS
from tests.support.voila_server import VoilaServer, missing_reason

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = pytest.mark.slow

NOTEBOOK = NOTEBOOKS / "04_image_browser.ipynb"
MIN_THUMBNAILS = 6
TIMEOUT_MS = 30_000

# How many of the first grid's images have loaded, and the first traceback a cell
# printed (Voilà renders cell errors as stderr outputs while it runs the notebook).
_GRID_STATE = """
() => {
  const grid = document.querySelector('.widget-gridbox');
  const loaded = grid ? [...grid.querySelectorAll('img.widget-image')]
    .filter((img) => img.complete && img.naturalWidth > 0).length : 0;
  const traceback = [...document.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map((output) => output.textContent)
    .find((text) => text.includes('Traceback') || /^\\S*Error\\b/m.test(text));
  return {loaded, traceback: traceback || null};
}
"""


@pytest.fixture
def voila(tmp_path: Path) -> Iterator[VoilaServer]:
    """Voilà serving the image browser notebook on 127.0.0.1, all its state in tmp_path."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(f"browser test skipped: {reason}")
    server = VoilaServer.start(NOTEBOOK, tmp_path / "voila")
    try:
        yield server
    finally:
        server.stop()


def _wait_for_grid(page: Page, voila: VoilaServer) -> int:
    """Wait until the first grid shows MIN_THUMBNAILS loaded images; fail early on a cell error."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + TIMEOUT_MS / 1000
    state: dict[str, Any] = {"loaded": 0, "traceback": None}
    while time.monotonic() < deadline:
        with contextlib.suppress(PlaywrightError):  # the streamed page may not be ready yet
            state = page.evaluate(_GRID_STATE)
        if state["loaded"] >= MIN_THUMBNAILS:
            loaded: int = state["loaded"]
            return loaded
        if state["traceback"] or "CellExecutionError" in voila.log():
            pytest.fail(
                "a notebook cell failed in Voilà:\n"
                + (state["traceback"] or voila.log()[-3000:]).strip()
            )
        page.wait_for_timeout(200)
    pytest.fail(
        f"the grid showed {state['loaded']} loaded images, not {MIN_THUMBNAILS}, within "
        f"{TIMEOUT_MS / 1000:.0f} s; Voilà's log ends with:\n{voila.log()[-3000:]}"
    )


def _viewer_parts(detail: Locator) -> tuple[Locator, Locator]:
    """The opened viewer's image and its instance slider's handle."""
    image = detail.locator("img.widget-image").first
    instance_slider = detail.locator(".widget-slider").filter(
        has=detail.page.get_by_text("instance", exact=True)
    )
    return image, instance_slider.get_by_role("slider")


def test_image_browser_in_voila(
    voila: VoilaServer,
    chromium: Browser,
    tmp_path: Path,
    record_property: Any,
) -> None:
    started = time.monotonic()
    with loopback_page(chromium, width=1280, height=1600, timeout_ms=TIMEOUT_MS) as (page, policy):
        page.goto(voila.url, wait_until="commit")  # Voilà streams the page while the cells run

        loaded = _wait_for_grid(page, voila)
        grid_seconds = time.monotonic() - started
        grid = page.locator(".widget-gridbox").first
        container = grid.locator("xpath=..")  # the grid's VBox: navigation, GridBox, detail box
        detail = container.locator(":scope > .widget-vbox").last
        assert detail.locator("img.widget-image").count() == 0, "a viewer shows before any click"
        sources = grid.locator("img.widget-image").evaluate_all("(imgs) => imgs.map((i) => i.src)")
        assert all(policy.is_local(src) for src in sources), sources

        # "open" under the first tile puts a series viewer (with its own image) below the grid.
        grid.get_by_role("button", name="open").first.click()
        image, handle = _viewer_parts(detail)
        image.wait_for()
        page.wait_for_function(LOADED, arg=image.element_handle())
        assert container.locator("img.widget-image").count() == len(sources) + 1

        # The keyboard moves the instance slider one step; the viewer fetches and shows that one.
        before_src = image.get_attribute("src")
        now, top = (
            float(handle.get_attribute(a) or "nan") for a in ("aria-valuenow", "aria-valuemax")
        )
        assert top >= 1, (
            f"the opened series has one instance only (slider max {top}): nothing to move"
        )
        handle.focus()
        handle.press("ArrowRight" if now < top else "ArrowLeft")
        page.wait_for_function(NEW_IMAGE_LOADED, arg=[image.element_handle(), before_src])
        after = float(handle.get_attribute("aria-valuenow") or "nan")
        assert after == now + (1 if now < top else -1), (now, after)

        screenshot = tmp_path / "image_browser.png"
        container.screenshot(path=str(screenshot))
        record_property("screenshot", str(screenshot))
        record_property("aborted_requests", policy.aborted)
        print(
            f"\nimage browser: {loaded} thumbnails after {grid_seconds:.1f} s, viewer and slider "
            f"after {time.monotonic() - started:.1f} s; screenshot: {screenshot}"
        )
        if policy.aborted:
            print("aborted (not loopback): " + ", ".join(url for _, url in policy.aborted))

        assert not policy.escaped, f"requests left 127.0.0.1: {policy.escaped}"
        blocked_images = [url for kind, url in policy.aborted if kind == "image"]
        assert not blocked_images, f"images were asked of other hosts: {blocked_images}"
        assert screenshot.stat().st_size > 0
