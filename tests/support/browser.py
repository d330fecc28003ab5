"""Pages in Debian's Chromium that may only talk to 127.0.0.1, and what to wait for in them.

The browser itself is the ``chromium`` fixture (tests/browser/conftest.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request, Route

__all__ = ["LOADED", "LOOPBACK", "NEW_IMAGE_LOADED", "LoopbackOnly", "loopback_page"]

LOOPBACK = frozenset({"127.0.0.1", "localhost"})
# For page.wait_for_function: an <img> has loaded; it shows another picture than ``old``.
LOADED = "(img) => img.complete && img.naturalWidth > 0"
NEW_IMAGE_LOADED = "([img, old]) => img.src !== old && img.complete && img.naturalWidth > 0"


class LoopbackOnly:
    """A ``page.route`` handler: loopback requests go through, all others are aborted."""

    def __init__(self) -> None:
        self.aborted: list[tuple[str, str]] = []  # (resource type, URL)
        self.escaped: list[str] = []  # finished requests that were not loopback: must stay empty

    @staticmethod
    def is_local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob") or parts.hostname in LOOPBACK

    def __call__(self, route: Route) -> None:
        request = route.request
        if self.is_local(request.url):
            route.continue_()
        else:
            self.aborted.append((request.resource_type, request.url))
            route.abort("blockedbyclient")

    def on_finished(self, request: Request) -> None:
        if not self.is_local(request.url):
            self.escaped.append(request.url)


@contextlib.contextmanager
def loopback_page(
    chromium: Browser, *, width: int, height: int, timeout_ms: float
) -> Iterator[tuple[Page, LoopbackOnly]]:
    """A fresh page (its own context) that may only talk to 127.0.0.1, and its policy.

    On leaving, the block fails if a request left 127.0.0.1; the context is closed.
    """
    policy = LoopbackOnly()
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.route("**/*", policy)
    page.on("requestfinished", policy.on_finished)
    try:
        yield page, policy
        assert not policy.escaped, f"requests left 127.0.0.1: {policy.escaped}"
    finally:
        context.close()
