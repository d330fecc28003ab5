"""How long ``import dicomlab`` takes, against ``import pandas`` measured in the same run.

Target: ratio ≤ 1.5 (median of 10 fresh interpreters each). ``--quick`` runs 3.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from _results import report


def median_seconds(statement: str, runs: int) -> float:
    """Median wall time of ``python -c statement`` over ``runs`` fresh interpreters."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    runs = 3 if "--quick" in sys.argv else 10
    median_seconds("import dicomlab, pandas", 1)  # warm the file cache
    ours = median_seconds("import dicomlab", runs)
    floor = median_seconds("import pandas", runs)
    print(f"import dicomlab: {ours * 1000:.0f} ms; import pandas: {floor * 1000:.0f} ms")
    report("import dicomlab vs import pandas", ours, floor, "<=", 1.5)
    print(f"import_time ratio {ours / floor:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
