"""One machine-readable line per measured ratio, read by ``bench/summary.py``.

Each benchmark prints, besides its human-readable lines::

    RESULT {"name": "...", "ours": 1.23, "floor": 1.10, "ratio": 1.12, "op": "<=", "target": 1.3}

``ours`` and ``floor`` are seconds (or whatever the ratio divides); ``op`` says
which side of ``target`` passes.
"""

from __future__ import annotations

import json

PREFIX = "RESULT "


def report(name: str, ours: float, floor: float, op: str, target: float) -> None:
    """Print the RESULT line for ``ours / floor`` against ``target``."""
    ratio = ours / floor if floor else float("inf")
    record = {
        "name": name,
        "ours": ours,
        "floor": floor,
        "ratio": ratio,
        "op": op,
        "target": target,
    }
    print(PREFIX + json.dumps(record))


def passed(record: dict) -> bool:
    """Whether a RESULT record meets its target."""
    if record["op"] == "<=":
        return bool(record["ratio"] <= record["target"])
    if record["op"] == ">=":
        return bool(record["ratio"] >= record["target"])
    return bool(record["ratio"] < record["target"])
