"""Where the time goes: a short in-process profile of one call, for a missed target.

``py-spy`` (``bench/retrieve.py --profile``) samples a whole process from
outside; this is the quick in-process view, by function, that a benchmark
prints under a row that misses its target.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any


def where_time_goes(run: Callable[[], Any], top: int = 8) -> list[str]:
    """The ``top`` functions by own time during one ``run()``, as report lines.

    Each line: own seconds, share of the profiled total, calls, function.
    Time in threads the call starts is not seen: a pool's workers show as
    waiting (``acquire``), which says so.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run()
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in rows.values()) or 1.0
    ranked = sorted(rows.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = []
    for (path, line, name), (_, calls, own, _, _) in ranked:
        where = f"{Path(path).name}:{line}" if line else path
        share = 100 * own / total
        lines.append(f"    {own:7.3f} s {share:5.1f} %  {calls:>7} calls  {name}  {where}")
    return lines
