"""The dicomlab version, and the shape of the provenance record a cohort export leaves.

The version lives here, and only here: the package root re-exports it, the
build reads it (``[tool.hatch.version]`` in pyproject.toml), and the export
code stamps it into records without importing the package root (which would
pull the whole package in through ``Lab``).

A provenance record is the JSON saved next to a cohort's filter file: what
was exported (the filter file's URI, SHA-256 and line count, the query that
produced the hits, the review that curated them), how (method, counters), from which store to which
destination, when, and by which dicomlab version. It is stored in a bucket
and shown in notebooks, so every URL in it is redacted.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict

from dicomlab.redaction import redact_values

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "QUERY_ATTRS",
    "FilterFileRecord",
    "ProvenanceRecord",
    "__version__",
    "cohort_record",
    "record_name",
    "remember_query",
]

# The key under which a query result's DataFrame.attrs records what produced it.
QUERY_ATTRS = "dicomlab.query"

__version__ = "0.1.0"


class FilterFileRecord(TypedDict):
    """Which filter file named the cohort: where it is, its checksum, how many lines."""

    uri: str
    sha256: str
    lines: int


class ProvenanceRecord(TypedDict):
    """What one cohort export did (see the module docstring)."""

    dicomlab_version: str
    method: str
    store: str
    destination: str
    level: str
    filter_file: FilterFileRecord
    query: Any
    review: dict[str, Any] | None
    result: dict[str, Any]
    started: str
    finished: str
    seconds: float


def cohort_record(
    *,
    method: str,
    store: str,
    destination: str,
    level: str,
    filter_uri: str,
    filter_bytes: bytes,
    filter_lines: int,
    query: Any,
    result: dict[str, Any],
    started: datetime,
    seconds: float,
    review: dict[str, Any] | None = None,
) -> ProvenanceRecord:
    """A provenance record, finished now, with every URL in it redacted.

    >>> record = cohort_record(
    ...     method="client-side-metadata", store="http://u:PW@h/dicom-web",
    ...     destination="cohort", level="series", filter_uri="file:///b/c.txt",
    ...     filter_bytes=b"/studies/1/series/2\\n", filter_lines=1, query=None,
    ...     result={"counters": {"success": 1, "failure": 0}},
    ...     started=datetime(2026, 1, 2, tzinfo=timezone.utc), seconds=0.5)
    >>> record["store"], record["filter_file"]["lines"], record["started"]
    ('http://u:****@h/dicom-web', 1, '2026-01-02T00:00:00+00:00')
    >>> record["dicomlab_version"] == __version__
    True
    """
    record: ProvenanceRecord = {
        "dicomlab_version": __version__,
        "method": method,
        "store": store,
        "destination": destination,
        "level": level,
        "filter_file": {
            "uri": filter_uri,
            "sha256": hashlib.sha256(filter_bytes).hexdigest(),
            "lines": filter_lines,
        },
        "query": query,
        "review": review,
        "result": result,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
    }
    redacted: ProvenanceRecord = redact_values(record)  # stored and shown: no URL credential
    return redacted


def record_name(filter_name: str, when: datetime) -> str:
    """``STEM.YYYYMMDDTHHMMSSffffffZ.provenance.json``: one record per run, never replaced.

    >>> record_name("cohorts/lung.txt", datetime(2026, 1, 2, 3, 4, 5, 6, timezone.utc))
    'cohorts/lung.20260102T030405000006Z.provenance.json'
    """
    stem = filter_name[:-4] if filter_name.endswith(".txt") else filter_name
    return f"{stem}.{when.strftime('%Y%m%dT%H%M%S%fZ')}.provenance.json"


def remember_query(
    df: pd.DataFrame,
    *,
    name: str | None,
    sql: str,
    params: dict[str, Any],
    table: str,
    source: str | None = None,
) -> None:
    """Note on ``df`` what query produced it; a cohort export's provenance record reads it back.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"n": [1]})
    >>> remember_query(df, name="q", sql="SELECT 1 AS n", params={"d": 1.5}, table="t")
    >>> df.attrs[QUERY_ATTRS]["name"], df.attrs[QUERY_ATTRS]["params"]
    ('q', {'d': 1.5})
    """
    df.attrs[QUERY_ATTRS] = {
        "name": name,
        "sql": sql,
        "params": {
            k: v if isinstance(v, (str, int, float, bool)) else str(v) for k, v in params.items()
        },
        "table": table,
        "source": source,
        "job": df.attrs.get("dicomlab.job"),
        "run_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
