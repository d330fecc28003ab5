"""Fixtures for the benchmark smoke runs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.support.paths import BENCH


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
