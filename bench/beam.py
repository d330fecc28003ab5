"""The Beam export on the DirectRunner against the local export, on the same files.

Generates a synthetic cohort (``dicomlab.samples.synthetic``), exports it with
the local engine (one worker per CPU) and with ``engine="beam"`` on Beam's
``DirectRunner`` (one process, in memory) into one DuckDB file, checks that
the two tables are the same (rows and schema), and prints both times and the
ratio Beam / local.

The DirectRunner is Beam's test runner, not a fast one: each element crosses
Beam's machinery (coders, bundles, a GroupByKey for one row per instance, a
combine for the schema) on one core, where the local export runs flat loops on
every core. Its ratio is the price of the distributed form on one machine;
the Beam export pays off on Dataflow, with many workers, where the local
engine cannot go. The target only flags a regression of that price.

Usage::

    python bench/beam.py              # N = 20,000
    python bench/beam.py --quick      # a tiny smoke run
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

from _results import report

# Beam on the DirectRunner against the local export on 2 cores: measured 4.9x at N = 20,000
# (72.9 s against 14.9 s), 2.8x at N = 2,000.
TARGET_BEAM_OVER_LOCAL = 8.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="instances to generate")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (N = 200)")
    args = parser.parse_args()
    n = 200 if args.quick else args.n
    if importlib.util.find_spec("apache_beam") is None:
        print("Apache Beam is not installed (pip install -e '.[beam]'): nothing measured")
        return
    from export import generate  # bench/export.py: the same synthetic cohort

    with tempfile.TemporaryDirectory(prefix="dicomlab-bench-beam-") as tmp:
        folder = Path(tmp) / "store"
        count, seconds = generate(folder, n)
        print(f"generated {count} instances in {seconds:.1f} s")
        local, beam = measure(folder, Path(tmp) / "w.duckdb")
    print(f"local export (one worker per CPU): {local:.2f} s")
    print(f"Beam DirectRunner:                 {beam:.2f} s  ({beam / local:.1f}x)")
    report(f"Beam DirectRunner / local export, N={count}", beam, local, "<=",
           TARGET_BEAM_OVER_LOCAL)  # fmt: skip


def measure(folder: Path, database: Path) -> tuple[float, float]:
    """Seconds of the local export and of the Beam export; their tables checked equal."""
    from dicomlab.export.beamrun import export_with_beam
    from dicomlab.export.pipeline import export_store_metadata
    from dicomlab.stores.folder import FolderStore
    from dicomlab.warehouses.duckdb import DuckDBWarehouse

    store, warehouse = FolderStore(folder), DuckDBWarehouse(database)
    started = time.perf_counter()
    local = export_store_metadata(store, warehouse, table="local", progress=False)
    local_seconds = time.perf_counter() - started
    started = time.perf_counter()
    beam = export_with_beam(store, warehouse, table="beam", runner="DirectRunner")
    beam_seconds = time.perf_counter() - started
    with warehouse.connection() as con:
        tables = [
            con.sql(f"SELECT * FROM {name} ORDER BY SOPInstanceUID").to_arrow_table()
            for name in ("local", "beam")
        ]
    if beam.success != local.success or not tables[0].equals(tables[1]):
        raise SystemExit("the Beam export's table differs from the local export's")
    print(f"both tables: {local.success} rows, {tables[0].num_columns} columns, the same")
    return local_seconds, beam_seconds


if __name__ == "__main__":
    main()
