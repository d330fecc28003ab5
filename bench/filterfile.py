"""FilterFile.from_dataframe on a million instance rows, against a bare pandas floor.

The rows: 1,000,000 instance rows (every tenth a duplicate of another) over
10,000 studies, plus study-level rows (series and instance UIDs missing) that
cover about 10 % of the instances.

(a) the floor: vectorised pandas string concatenation of the finest level each
    row allows, ``drop_duplicates``, ``"\\n".join`` (no validation, no collapse);
(b) ours: ``FilterFile.from_dataframe(df).to_text()``, with every UID
    validated and covered lines dropped.

Target: b/a <= 1.5.

Usage::

    python bench/filterfile.py            # 1,000,000 rows
    python bench/filterfile.py --quick    # 20,000 rows
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import report

TARGET = 1.5


def make_rows(n: int, seed: int = 7):
    """``n`` instance rows with duplicates, plus study rows covering ~10 % of them."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    studies = max(10, n // 100)
    study = rng.integers(0, studies, n)
    series = rng.integers(0, 4, n)
    instance = np.arange(n)
    dup = rng.random(n) < 0.1
    instance[dup] = rng.integers(0, n, dup.sum())  # duplicates of other rows
    root = "1.2.826.0.1.3680043.8.498"
    frame = pd.DataFrame(
        {
            "StudyInstanceUID": [f"{root}.1.{s + 1}" for s in study],
            "SeriesInstanceUID": [
                f"{root}.2.{s + 1}.{e + 1}" for s, e in zip(study, series, strict=True)
            ],
            "SOPInstanceUID": [f"{root}.3.{i + 1}" for i in instance],
        }
    )
    covered = rng.choice(studies, max(1, studies // 10), replace=False)
    study_rows = pd.DataFrame({"StudyInstanceUID": [f"{root}.1.{s + 1}" for s in covered]}).reindex(
        columns=frame.columns
    )
    return pd.concat([frame, study_rows], ignore_index=True)


def floor(df) -> str:
    """Lines of the finest level each row allows, de-duplicated, joined: no checks."""
    study = "/studies/" + df["StudyInstanceUID"]
    series = study + "/series/" + df["SeriesInstanceUID"]
    instance = series + "/instances/" + df["SOPInstanceUID"]
    lines = instance.fillna(series).fillna(study).drop_duplicates()
    return "\n".join(lines.tolist()) + "\n"


def ours(df) -> str:
    from dicomlab.core.filterfile import FilterFile

    return FilterFile.from_dataframe(df).to_text()


def median_time(function, df, repeat: int) -> tuple[float, str]:
    times, result = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(df)
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat = 20_000, 1
    df = make_rows(args.n)
    a, bare = median_time(floor, df, args.repeat)
    b, text = median_time(ours, df, args.repeat)
    dropped = bare.count("\n") - text.count("\n")
    print(f"{len(df):,} rows -> {text.count(chr(10)):,} lines ({dropped:,} covered lines dropped)")
    print(f"(a) pandas floor (no validation)  {a:7.3f} s")
    print(f"(b) FilterFile.from_dataframe     {b:7.3f} s")
    report(f"FilterFile.from_dataframe, {len(df):,} rows (b/a)", b, a, "<=", TARGET)
    print(f"b/a {b / a:.2f}  target <= {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
