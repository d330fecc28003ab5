"""The README's Python blocks run as written, after the demo, on a fresh data folder.

Every ```python block that needs no Google credentials (no ``bq://``, ``gs://``
or Cloud Healthcare name in it) runs, in order, in one namespace, as a reader
pasting them into one notebook would; the others are only parsed.
"""

from __future__ import annotations

import ast
import re

import pytest

from tests.support.paths import README

BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
NEEDS_GOOGLE = re.compile(r"bq://|gs://|healthcare\.googleapis|projects/")


def _blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def test_readme_has_blocks_that_run_offline():
    offline = [b for b in _blocks() if not NEEDS_GOOGLE.search(b)]
    assert len(offline) >= 2, "the README lost its runnable examples"
    for block in _blocks():
        ast.parse(block)  # every block is valid Python, even those not run


def test_readme_python_blocks_run_after_the_demo(tmp_path, monkeypatch):
    import matplotlib

    from dicomlab.demo import run_demo

    matplotlib.use("Agg")
    home = tmp_path / "home"
    monkeypatch.setenv("DICOMLAB_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    run_demo(tmp_path / "demo-output", say=lambda _: None)  # what `make demo` leaves behind
    namespace: dict[str, object] = {"__name__": "__readme__"}
    ran = 0
    for number, block in enumerate(_blocks(), start=1):
        if NEEDS_GOOGLE.search(block):
            continue
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"README python block {number} failed: {type(exc).__name__}: {exc}")
        ran += 1
    assert ran >= 2
    figures = namespace["dicomlab"].notebook.plots  # type: ignore[attr-defined]
    assert figures.__name__ == "dicomlab.notebook.plots"
    assert (home / "bucket" / "cohort.txt").read_text() == namespace["cohort"].to_text()  # type: ignore[attr-defined]
    assert any((tmp_path / "cohort-files").rglob("*.dcm"))
