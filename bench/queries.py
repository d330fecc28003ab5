"""Canned queries on a 10-million-row table in DuckDB, against the same queries written by hand.

Builds a synthetic ``dicom_metadata`` table (DuckDB file, generated in SQL):
N instances in series of 50, studies of 4 series, patients of 3 studies, with
StudyDate, StudyTime (some with fractional seconds), Modality and PatientID.

(a) the floor: each query hand-written in DuckDB's dialect, run with
    ``duckdb.connect(path).sql(...).df()`` (parameters bound);
(b) ours: ``lab.query("latest_studies", limit=20)`` and
    ``lab.query("patient_dicomweb_paths", patient_id=...)`` (BigQuery SQL from
    ``queries/``, translated by sqlglot, parameters bound, BigQuery's dtypes).

Each is the median of ``--repeat`` interleaved runs; results are checked equal. Prints
peak RSS. Target: b/a <= 1.2 for each query.

Usage::

    python bench/queries.py              # N = 10,000,000
    python bench/queries.py --quick      # N = 200,000
"""

from __future__ import annotations

import argparse
import atexit
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _results import interleaved, report

TARGET = 1.2
MIB = 1024 * 1024

GENERATE = """
CREATE TABLE dicom_metadata AS
SELECT
  '1.2.826.0.1.3680043.8.498.1.' || (i // 200) AS StudyInstanceUID,
  '1.2.826.0.1.3680043.8.498.2.' || (i // 50) AS SeriesInstanceUID,
  '1.2.826.0.1.3680043.8.498.3.' || i AS SOPInstanceUID,
  'P' || lpad(CAST(i // 600 AS VARCHAR), 7, '0') AS PatientID,
  DATE '1995-01-01' + CAST((i // 200) % 9000 AS INTEGER) AS StudyDate,
  CAST(TIME '07:00:00' + INTERVAL (((i // 200) * 37) % 36000) SECOND
       + INTERVAL (CASE WHEN (i // 200) % 7 = 0 THEN 500 ELSE 0 END) MILLISECOND AS TIME)
    AS StudyTime,
  ['CT', 'MR', 'CR', 'US'][1 + (i // 50) % 4] AS Modality
FROM range($n) AS t(i)
"""

# The canned queries as one would write them for DuckDB directly.
LATEST = """
SELECT
  MIN(CASE WHEN microsecond(StudyTime) % 1000000 = 0
           THEN strftime(StudyDate + StudyTime, '%Y-%m-%d %H:%M:%S')
           WHEN microsecond(StudyTime) % 1000 = 0
           THEN strftime(StudyDate + StudyTime, '%Y-%m-%d %H:%M:%S.%g')
           ELSE strftime(StudyDate + StudyTime, '%Y-%m-%d %H:%M:%S.%f') END) AS StudyDateTime,
  MIN(PatientID) AS PatientID,
  StudyInstanceUID,
  COUNT(*) AS InstanceCount
FROM dicom_metadata
GROUP BY StudyInstanceUID
ORDER BY StudyDateTime DESC, StudyInstanceUID
LIMIT $limit
"""
PATHS = """
SELECT
  '/dicomWeb/studies/' || StudyInstanceUID || '/series/' || SeriesInstanceUID
    || '/instances/' || SOPInstanceUID AS DICOMwebPath,
  StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID
FROM dicom_metadata
WHERE PatientID = $patient_id
ORDER BY StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench-queries-")
    atexit.register(shutil.rmtree, scratch, True)
    tempfile.tempdir = scratch  # every folder this run makes goes under it, removed at exit
    if args.quick:
        args.n, args.repeat = 200_000, 1

    import duckdb

    import dicomlab

    folder = Path(tempfile.mkdtemp(prefix="bench-queries-"))
    path = folder / "lab.duckdb"
    started = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        con.execute(GENERATE, {"n": args.n})
    print(f"{args.n:,} rows generated in {time.perf_counter() - started:.1f} s")
    lab = dicomlab.connect(warehouse=str(path), home=folder)
    patient = "P" + str(args.n // 1200).rjust(7, "0")

    def floor(sql: str, params: dict[str, Any]) -> Any:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.sql(sql, params=params).df()

    ratios = []
    for name, sql, params in (
        ("latest_studies", LATEST, {"limit": 20}),
        ("patient_dicomweb_paths", PATHS, {"patient_id": patient}),
    ):
        mine = dict(params)
        expected = floor(sql, params)  # warm DuckDB's caches for both
        got = lab.query(name, **mine)
        a, b = interleaved(
            {
                "floor": lambda sql=sql, params=params: floor(sql, params),
                "ours": lambda name=name, mine=mine: lab.query(name, **mine),
            },
            args.repeat,
        ).values()
        assert got.astype(str).values.tolist() == expected.astype(str).values.tolist(), name
        print(f"{name:24s} (a) hand-written {a:6.3f} s  (b) lab.query {b:6.3f} s  {len(got)} rows")
        ratios.append((name, b / a))
        report(f"lab.query {name}, {args.n:,} rows (b/a)", b, a, "<=", TARGET)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak RSS {peak / MIB:.0f} MiB")
    for name, ratio in ratios:
        print(f"b/a {name} {ratio:.2f}  target <= {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
