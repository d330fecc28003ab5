"""Where the repository's own files are, for tests that read or run them."""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCH", "NOTEBOOKS", "README", "REPO"]

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
NOTEBOOKS = REPO / "notebooks"
README = REPO / "README.md"
