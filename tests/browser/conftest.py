"""Fixtures for the browser tests: one headless Debian Chromium for the session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.voila_server import CHROMIUM, CHROMIUM_ARGS, missing_reason

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium driven by Playwright (no browser download).

    Each test opens its pages in a context of its own (``loopback_page``) and
    closes it before its server stops.
    """
    reason = missing_reason()
    if reason is not None:
        pytest.skip(f"browser tests skipped: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
