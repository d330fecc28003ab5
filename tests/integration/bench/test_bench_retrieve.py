"""The retrieval benchmark still runs (8 thumbnails: it checks the script, not the speed)."""

from __future__ import annotations

import pytest

from tests.support.orthanc import missing_reason


@pytest.mark.skipif(missing_reason() is not None, reason=f"Orthanc: {missing_reason()}")
def test_bench_retrieve_quick_prints_the_ratios_and_profiles(run_bench):
    lines = run_bench("retrieve", "--quick", "--profile", "1")
    assert lines[-2].startswith("a/c ") and "target >= 2.0" in lines[-2]
    assert lines[-1].startswith("c/b ") and "target <= 1.25" in lines[-1]
    for step in ("(a) sequential", "(b) raw parallel", "(c) ours", "first thumbnail"):
        assert any(line.startswith(step) for line in lines), step
    assert float(lines[-2].split()[1]) > 0 and float(lines[-1].split()[1]) > 0
    # the profiles, or why there is none (perf and py-spy need the rights to trace)
    server = [line for line in lines if line.startswith(("server (perf", "perf "))]
    client = [line for line in lines if line.startswith(("client (py-spy", "py-spy "))]
    assert len(server) == 1 and len(client) == 1, lines
    if server[0].startswith("server"):
        assert "Orthanc" in server[0] and "%" in server[0]
    if client[0].startswith("client"):
        assert "%" in client[0]
