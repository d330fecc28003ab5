"""What we know about each kind of DICOMweb server, in one place.

A :class:`ServerProfile` holds the limits and quirks that change how a
request must be made: page caps for QIDO searches, how a study or series is
deleted, whether STOW takes DICOM JSON with bulk data, how many requests the
server serves well at once. :func:`detect_profile` picks one from the base
URL; a caller can always pass one explicitly.

Sources: Google's limits and behaviour are SPEC §4 (Cloud Healthcare API
DICOM conformance); Orthanc's were seen on Orthanc 1.10 with its DICOMweb
plugin 1.7 (``RECIPES.md``):

- query values are not percent-decoded (``*``, ``,`` must be sent raw: done
  for every server by the transport, since both are legal unencoded);
- ``DELETE`` on DICOMweb paths answers 405: Orthanc deletes through its REST
  API (``POST /tools/lookup`` then ``DELETE /studies/{id}``);
- STOW of ``multipart/related; type="application/dicom+json"`` answers 415:
  JSON + JPEG uploads are sent as Part 10 files instead;
- a STOW batch with one bad instance answers 400 although the rest were
  stored (the response body still lists what was stored).

>>> detect_profile("https://healthcare.googleapis.com/v1/projects/p/locations/l/"
...                "datasets/d/dicomStores/s/dicomWeb").name
'google'
>>> detect_profile("http://127.0.0.1:8042/dicom-web").name
'generic'
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

__all__ = ["GENERIC", "GOOGLE", "ORTHANC", "PROFILES", "ServerProfile", "detect_profile"]


@dataclass(frozen=True)
class ServerProfile:
    """Limits and behaviour of one kind of DICOMweb server.

    Attributes
    ----------
    name
        ``"google"``, ``"orthanc"`` or ``"generic"``.
    page_size
        Results asked for per QIDO page, by level (``studies``, ``series``,
        ``instances``); a search pages with ``offset`` until a page is empty.
    max_offset
        The largest ``offset`` the server accepts (``None``: no known limit);
        a search that reaches it stops and warns that results were truncated.
    delete
        How studies and series are deleted: ``"dicomweb"`` (``DELETE`` on the
        DICOMweb path), ``"operation"`` (the same, answered by a long-running
        operation to wait on), ``"orthanc-rest"`` (Orthanc's REST API).
    stow_json
        Whether STOW accepts ``application/dicom+json`` with bulk data parts.
    concurrency
        Requests in flight that the server serves well at once.
    lists_rows
        Whether instance searches list ``Rows`` for every instance with pixel
        data (so an instance without it has none, and needs no render request).
    """

    name: str
    page_size: tuple[tuple[str, int], ...] = (
        ("studies", 1000),
        ("series", 1000),
        ("instances", 1000),
    )
    max_offset: int | None = None
    delete: str = "dicomweb"
    stow_json: bool = True
    concurrency: int = 8
    lists_rows: bool = False

    def page_limit(self, level: str) -> int:
        """Results per QIDO page at ``level``.

        >>> GOOGLE.page_limit("instances"), GOOGLE.page_limit("studies")
        (50000, 5000)
        """
        return dict(self.page_size)[level]


GENERIC = ServerProfile("generic")
# SPEC §4: limit ≤ 5,000 for studies/series, ≤ 50,000 for instances, offset ≤ 1,000,000;
# DELETE of a study or series returns a long-running operation.
GOOGLE = ServerProfile(
    "google",
    page_size=(("studies", 5000), ("series", 5000), ("instances", 50000)),
    max_offset=1_000_000,
    delete="operation",
    stow_json=True,
    concurrency=16,
)
ORTHANC = ServerProfile(
    "orthanc", delete="orthanc-rest", stow_json=False, concurrency=8, lists_rows=True
)
PROFILES = {p.name: p for p in (GENERIC, GOOGLE, ORTHANC)}


def detect_profile(url: str) -> ServerProfile:
    """The profile a base URL implies: Google's host, or generic.

    Orthanc cannot be told from its DICOMweb URL alone; a store probes it
    (``GET /system`` beside ``/dicom-web``) when a profile-dependent request
    needs to know.
    """
    host = urlparse(url).hostname or ""
    if host == "healthcare.googleapis.com" or host.endswith(".healthcare.googleapis.com"):
        return GOOGLE
    return GENERIC
