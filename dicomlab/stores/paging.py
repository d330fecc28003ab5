"""QIDO-RS searches a page at a time, within what the server accepts.

A search asks for pages of the profile's size with ``offset`` until a page
comes back empty, stops after ``limit`` results, and warns
(:class:`~dicomlab.errors.ServerWarning`) when the server cannot give the
rest: it ignores ``offset`` (the first page comes back again) or accepts no
``offset`` beyond its cap. :func:`server_warnings` surfaces a server's own
``Warning`` header (Google's for truncated results) the same way.

>>> found = [{"n": n} for n in range(7)]
>>> def search(limit, offset):
...     return found[offset : offset + limit]
>>> [item["n"] for item in iter_pages(search, "studies", GENERIC, limit=5)]
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dicomlab.errors import ServerWarning
from dicomlab.stores.dicomweb_errors import translated
from dicomlab.stores.profiles import GENERIC, ServerProfile

if TYPE_CHECKING:
    import requests

__all__ = ["GENERIC", "iter_pages", "server_warnings"]


def _truncated(level: str, offset: int, why: str) -> None:
    warnings.warn(
        f"{level} search stopped at {offset} results: {why}; narrow the search (e.g. by StudyDate)",
        ServerWarning,
        stacklevel=4,
    )


def iter_pages(
    search: Callable[..., list[dict[str, Any]]],
    level: str,
    profile: ServerProfile,
    limit: int | None = None,
    **kwargs: Any,
) -> Iterator[dict[str, Any]]:
    """The results of ``search(limit=…, offset=…, **kwargs)``, page after page.

    ``profile`` gives the page size for ``level`` and the largest offset;
    failures are translated (:mod:`dicomlab.stores.dicomweb_errors`).
    """
    page_size = profile.page_limit(level)
    offset, max_offset = 0, profile.max_offset
    first: dict[str, Any] | None = None
    while limit is None or offset < limit:
        size = page_size if limit is None else min(page_size, limit - offset)
        with translated(level):
            page = search(limit=size, offset=offset, **kwargs)
        if not page:
            return
        if offset and page[0] == first:  # the first page again: offset is not honoured
            _truncated(level, offset, "the server ignores offset, so later pages cannot be fetched")
            return
        first = page[0] if first is None else first
        yield from page
        offset += len(page)
        if max_offset is not None and offset > max_offset and len(page) == size:
            _truncated(level, offset, f"the server accepts no offset beyond {max_offset}")
            return


def server_warnings(base_url: str) -> Callable[..., None]:
    """A ``requests`` response hook: a ``Warning`` header on a GET below ``base_url`` warns."""

    def note(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        warning = response.headers.get("Warning")
        if warning and response.request.method == "GET" and response.url.startswith(base_url):
            path = response.url[len(base_url) :].split("?")[0]
            warnings.warn(
                f"the DICOMweb server warns about {path}: {warning}", ServerWarning, stacklevel=2
            )

    return note
