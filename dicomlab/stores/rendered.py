"""A DICOMweb server's renderings, checked, and local rendering where the server cannot.

:func:`fetch_server_rendered` asks WADO-RS ``/rendered`` (an instance or one
frame) and decodes the answer once, so a body cut short is an error, never a
half image. :func:`local_render_errors` names the instance whose pixels
cannot be decoded here. :func:`server_or_local_thumbnail` asks the server for a
thumbnail and renders the instance locally when the server cannot (it
answers 400, 406 or 500), or when rendering options only the local renderer
knows are given.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dicomlab.core.render import render_dataset
from dicomlab.errors import DicomlabError, NotFoundError, RemoteError, RenderError
from dicomlab.stores.answers import check_image
from dicomlab.stores.base import InstanceRef, frame_numbers
from dicomlab.stores.dicomweb_errors import status_of, translated
from dicomlab.stores.paths import instance_path

if TYPE_CHECKING:
    from dicomweb_client import DICOMwebClient
    from pydicom import Dataset

__all__ = [
    "RENDER_FALLBACK_STATUSES",
    "fetch_server_rendered",
    "local_render_errors",
    "server_or_local_thumbnail",
]

logger = logging.getLogger(__name__)
# Statuses for which a server is taken to be unable to render an instance.
RENDER_FALLBACK_STATUSES = frozenset({400, 406, 500})


def fetch_server_rendered(
    client: DICOMwebClient,
    ref: InstanceRef,
    *,
    frame: int | None = None,
    media_type: str = "image/jpeg",
    viewport: int | tuple[int, int] | None = None,
    params: dict[str, Any] | None = None,
) -> bytes:
    """The server's rendering of ``ref`` (or one 1-based ``frame``), checked whole."""
    query = dict(params or {})
    if viewport is not None:
        width, height = (viewport, viewport) if isinstance(viewport, int) else viewport
        query["viewport"] = f"{width},{height}"
    args = (ref.study, ref.series, ref.instance)
    if frame is None:
        resource = f"{instance_path(ref)}/rendered"
        with translated(resource):
            data = client.retrieve_instance_rendered(
                *args, media_types=(media_type,), params=query or None
            )
    else:
        resource = f"{instance_path(ref)}/frames/{frame}/rendered"
        with translated(resource):
            data = client.retrieve_instance_frames_rendered(
                *args, frame_numbers([frame]), media_types=(media_type,), params=query or None
            )
    check_image(data, media_type, resource)  # never a cut image, nor one cached
    return data


def server_or_local_thumbnail(
    server: Callable[[], bytes],
    instance: Callable[[], Dataset],
    ref: InstanceRef,
    *,
    size: int,
    media_type: str,
    options: dict[str, Any],
) -> bytes:
    """``server()``'s rendering, or ``instance()`` rendered here when the server cannot.

    ``options`` (windowing, quality) are the local renderer's: with any, the
    server is not asked.
    """
    if not options:
        try:
            return server()
        except (RemoteError, NotFoundError) as exc:
            if status_of(exc) not in RENDER_FALLBACK_STATUSES:
                raise
            logger.debug("server cannot render %s; rendering locally: %s", ref.instance, exc)
    return render_dataset(instance(), size=size, media_type=media_type, **options)


@contextlib.contextmanager
def local_render_errors(ref: InstanceRef, dataset: Dataset) -> Iterator[None]:
    """Pixels that cannot be decoded (a damaged JPEG 2000 file): a RenderError naming the file."""
    try:
        yield
    except DicomlabError:
        raise
    except Exception as exc:
        path = getattr(dataset, "filename", None) or ref.instance
        raise RenderError(
            f"instance {ref.instance} ({path!s}) could not be rendered: {type(exc).__name__}: {exc}"
        ) from exc
