"""Fixtures for the benchmark smoke runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.paths import BENCH

PREFIX = "RESULT "  # bench/_results.py


@pytest.fixture
def run_bench() -> Callable[..., list[str]]:
    """Run ``bench/NAME.py`` with its arguments as ``make bench`` does; its output lines.

    The run must exit 0 within ``timeout`` seconds (its stderr is the failure message).
    """

    def run(name: str, *args: str, timeout: float = 300) -> list[str]:
        command = [sys.executable, str(BENCH / f"{name}.py"), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()

    return run


@pytest.fixture
def bench_records(
    run_bench: Callable[..., list[str]],
) -> Callable[..., tuple[list[dict[str, Any]], str]]:
    """Run a benchmark's smoke size: its ``RESULT`` records and its output.

    Every record has a positive ``ours`` and ``floor``; with ``ratios`` (the default)
    its ``ratio`` is ``ours / floor``.
    """

    def records(
        name: str, *args: str, timeout: float = 300, ratios: bool = True
    ) -> tuple[list[dict[str, Any]], str]:
        lines = run_bench(name, "--quick", *args, timeout=timeout)
        found = [json.loads(line.removeprefix(PREFIX)) for line in lines if line.startswith(PREFIX)]
        assert found, lines
        for record in found:
            assert record["ours"] > 0 and record["floor"] > 0, record
            assert not ratios or record["ratio"] == record["ours"] / record["floor"], record
        return found, "\n".join(lines)

    return records
