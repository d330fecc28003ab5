"""One machine-readable line per measured ratio, read by ``bench/summary.py``.

Each benchmark prints, besides its human-readable lines::

    RESULT {"name": "...", "ours": 1.23, "floor": 1.10, "ratio": 1.12, "op": "<=", "target": 1.3}

``ours`` and ``floor`` are seconds (or whatever the ratio divides); ``op`` says
which side of ``target`` passes.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

PREFIX = "RESULT "


def median_time(run: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``repeat`` calls of ``run``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved(
    runs: dict[str, Callable[[], Any]], repeat: int, after: Callable[[], Any] | None = None
) -> dict[str, float]:
    """Median wall times of several steps run in turn, ``repeat`` rounds.

    Interleaving puts a drift of the machine on every step alike; ``after``
    runs after each step, off the clock.
    """
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
            if after is not None:
                after()
    return {name: statistics.median(values) for name, values in times.items()}


def report(
    name: str, ours: float, floor: float, op: str, target: float, ratio: float | None = None
) -> None:
    """Print the RESULT line for ``ours / floor`` (or a given speed-up ``ratio``)."""
    if ratio is None:
        ratio = ours / floor if floor else float("inf")
    record = {"name": name, "ours": ours, "floor": floor, "ratio": ratio, "op": op}
    print(PREFIX + json.dumps({**record, "target": target}))


def passed(record: dict) -> bool:
    """Whether a RESULT record meets its target."""
    if record["op"] == "<=":
        return bool(record["ratio"] <= record["target"])
    if record["op"] == ">=":
        return bool(record["ratio"] >= record["target"])
    return bool(record["ratio"] < record["target"])
