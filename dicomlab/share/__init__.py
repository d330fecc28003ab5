"""Share mode: what leaves a Lab is de-identified, what comes back is mapped to real values.

A :class:`ShareMode` (:mod:`.mode`) belongs to one Lab. It keeps its secret
key and the map from pseudonyms back to real values in ``HOME/share/`` (file
mode 0600, never printed; :mod:`.files`), learns the identifying values of the
metadata table (the *census*), and offers two directions:
:meth:`ShareMode.shown` for anything on its way to the user (DataFrames, text,
records, DICOM JSON, pydicom datasets) and :meth:`ShareMode.real` for anything
coming back (DataFrames, filter files, UIDs, URIs). :class:`ShareProxy`
(:mod:`.proxy`) puts a store, warehouse, bucket or decision log behind both
directions, so the widgets see only pseudonyms while the adapters work on the
real data; :mod:`.logs` rewrites dicomlab's log lines. Which attributes
identify is :mod:`dicomlab.core.deid`.
"""

from __future__ import annotations

from dicomlab.share.files import SHARE_ENV, parse_share, read_census
from dicomlab.share.mode import ShareMode, share_banner
from dicomlab.share.proxy import ShareDecisionLog, ShareProxy, scrub_exception, scrubbed_errors

__all__ = [
    "SHARE_ENV",
    "ShareDecisionLog",
    "ShareMode",
    "ShareProxy",
    "parse_share",
    "read_census",
    "scrub_exception",
    "scrubbed_errors",
    "share_banner",
]
