"""Run every benchmark and print one summary table (``make bench``).

Each script in ``bench/`` prints ``RESULT {json}`` lines (see ``_results.py``)
besides its own report; this runs them one after the other (never in
parallel: they measure the machine), shows their output, then the table:
ours, floor, ratio, target, pass/fail. Exit code 0 even when a target is
missed: the table is the report.

Usage::

    python bench/summary.py            # full sizes (several minutes)
    python bench/summary.py --quick    # every script's smoke size
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _results import PREFIX, passed

BENCH = Path(__file__).resolve().parent
SCRIPTS = (
    "import_time",
    "filterfile",
    "queries",
    "export",
    "beam",
    "retrieve",
    "thumbnails",
    "folder_thumbnails",
    "viewer",
    "export_headers",
    "export_scale",
    "orthanc_full",
)


def run(script: str, quick: bool) -> list[dict]:
    """Run one script, echo its report, return its RESULT records."""
    command = [sys.executable, str(BENCH / f"{script}.py")] + (["--quick"] if quick else [])
    print(f"\n=== {script} ===", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    records = []
    for line in done.stdout.splitlines():
        if line.startswith(PREFIX):
            records.append({"script": script, **json.loads(line[len(PREFIX) :])})
        else:
            print(line)
    if done.returncode != 0:
        print(done.stderr[-2000:])
        nan = float("nan")
        failed = {"name": "(script failed)", "ours": nan, "floor": nan, "ratio": nan}
        records.append({"script": script, **failed, "op": "<=", "target": 0})
    return records


def table(records: list[dict]) -> str:
    """The summary table, one row per measured ratio."""
    header = f"{'benchmark':<58} {'ours':>9} {'floor':>9} {'ratio':>7} {'target':>8}  result"
    lines = [header, "-" * len(header)]
    for r in records:
        verdict = "pass" if passed(r) else "MISS"
        lines.append(
            f"{r['name'][:58]:<58} {r['ours']:>9.3f} {r['floor']:>9.3f} {r['ratio']:>7.2f} "
            f"{r['op'] + ' ' + format(r['target'], 'g'):>8}  {verdict}"
        )
    misses = sum(not passed(r) for r in records)
    lines.append(f"{len(records) - misses} of {len(records)} targets met")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes")
    parser.add_argument("--only", nargs="*", choices=SCRIPTS, help="run only these scripts")
    args = parser.parse_args()
    records = [r for script in (args.only or SCRIPTS) for r in run(script, args.quick)]
    print("\n" + table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
