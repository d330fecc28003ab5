"""The SOPInstanceUIDs an export has taken, kept on disk: duplicates found in flat memory.

A table has one row per instance. When two files of a store carry one
SOPInstanceUID, the export keeps the first in store order and leaves the
other out; the pair is reported as a :class:`Duplicate`, marked ``identical``
when the two files have the same bytes (a copy, harmless) and not otherwise
(two different instances under one UID: the one left out is a failure).

The UIDs seen are kept in an SQLite file in the export's temporary folder, so
memory does not grow with the store; a chunk without duplicates (the common
case) costs one batch insert.
"""

from __future__ import annotations

import filecmp
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Duplicate", "InstanceLedger"]


@dataclass(frozen=True)
class Duplicate:
    """A file left out of an export because an earlier one has its SOPInstanceUID.

    ``kept`` and ``other`` name the file loaded and the one left out (sources,
    as in the export's failures); ``identical`` tells whether they have the
    same bytes.
    """

    uid: str
    kept: str
    other: str
    identical: bool

    def reason(self) -> str:
        """Why ``other`` was left out, naming both files."""
        if self.identical:
            return f"a copy of {self.kept} (SOPInstanceUID {self.uid}, same bytes): loaded once"
        return (
            f"SOPInstanceUID {self.uid} is also that of {self.kept}, whose content differs: "
            f"left out (the first file in store order is loaded); remove or fix one of them"
        )


class InstanceLedger:
    """Which SOPInstanceUIDs have a row so far (an SQLite file at ``path``).

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> ledger = InstanceLedger(Path(folder) / "seen.sqlite")
    >>> ledger.admit([("1.2", "a.dcm", ""), ("1.3", "b.dcm", "")])
    ([], [])
    >>> drop, found = ledger.admit([("1.4", "c.dcm", ""), ("1.2", "d.dcm", "")])
    >>> drop, found[0].kept, found[0].other, found[0].identical
    ([1], 'a.dcm', 'd.dcm', False)
    >>> ledger.close()
    """

    def __init__(self, path: Path) -> None:
        self._con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # A scratch file, removed with its folder: nothing to keep if the process dies.
        self._con.execute("PRAGMA journal_mode=OFF")
        self._con.execute("PRAGMA synchronous=OFF")
        self._con.execute(
            "CREATE TABLE seen (uid TEXT PRIMARY KEY, source TEXT, path TEXT) WITHOUT ROWID"
        )

    def admit(self, instances: Sequence[tuple[str, str, str]]) -> tuple[list[int], list[Duplicate]]:
        """Record a chunk's ``(uid, source, path)`` rows, in order.

        Returns the indexes of the rows to leave out (their UID has a row
        already) and the duplicates they make.
        """
        con = self._con
        before = con.total_changes
        con.execute("BEGIN")
        con.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", instances)
        if con.total_changes - before == len(instances):
            con.execute("COMMIT")
            return [], []
        # Some UID came again: go row by row to tell which (rare).
        con.execute("ROLLBACK")
        drop: list[int] = []
        found: list[Duplicate] = []
        for index, (uid, source, path) in enumerate(instances):
            if con.execute(
                "INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (uid, source, path)
            ).rowcount:
                continue
            kept, kept_path = con.execute(
                "SELECT source, path FROM seen WHERE uid = ?", (uid,)
            ).fetchone()
            drop.append(index)
            found.append(Duplicate(uid, kept, source, same_bytes(kept_path, path)))
        return drop, found

    def close(self) -> None:
        """Close the SQLite file (its folder removes it)."""
        self._con.close()


def same_bytes(first: str, second: str) -> bool:
    """Whether two local files have the same bytes (``False`` when either is not a file).

    >>> same_bytes("", "")
    False
    """
    if not first or not second:
        return False
    try:
        return filecmp.cmp(first, second, shallow=False)
    except OSError:
        return False
