"""Import hygiene: `import dicomlab` stays light, the pure core stays pure."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dicomlab

HEAVY = [
    "google.cloud.bigquery",
    "google.cloud.storage",
    "duckdb",
    "ipywidgets",
    "pandas",
    "requests",
    "sqlglot",
    "pyarrow",
]
PURE_CORE = [
    "dicomlab.uids",
    "dicomlab.resources",
    "dicomlab.filterfile",
    "dicomlab.schema",
    "dicomlab.flatten",
    "dicomlab.dicomvalues",
    "dicomlab.queries",
    "dicomlab.sqlcompat",
    "dicomlab.sqlrewrite",
    "dicomlab.sqlscript",
    "dicomlab.render",
    "dicomlab.dicomjson",
    "dicomlab.errors",
    "dicomlab.redaction",
    "dicomlab.validation",
    "dicomlab.healthcare_requests",
    "dicomlab.stores.profiles",
    "dicomlab.stores.cache",
]
FORBIDDEN_IN_CORE = ["google", "requests", "duckdb", "ipywidgets", "urllib3"]


def _loaded_after(statement: str, names: list[str]) -> list[str]:
    code = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps([n for n in {names!r} if n in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def test_import_dicomlab_is_light():
    assert _loaded_after("import dicomlab", HEAVY) == []


# pydicom itself imports requests (pydicom.data.download), so the dynamic check
# compares against what the allowed third-party libraries load on their own.
ALLOWED = "import pydicom, pydicom.datadict, numpy, PIL.Image, sqlglot"


@pytest.mark.parametrize("module", PURE_CORE)
def test_pure_core_imports_no_io_library(module):
    baseline = set(_loaded_after(ALLOWED, FORBIDDEN_IN_CORE))
    assert set(_loaded_after(f"{ALLOWED}\nimport {module}", FORBIDDEN_IN_CORE)) == baseline


@pytest.mark.parametrize("module", PURE_CORE)
def test_pure_core_source_names_no_io_library(module):
    path = Path(importlib.import_module(module).__file__)
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_IN_CORE, f"{module} imports {name}"


def test_public_names():
    assert set(dicomlab.__all__) == {n for n in dir(dicomlab) if not n.startswith("_")} | {
        "__version__"
    }
    assert callable(dicomlab.connect) and dicomlab.Lab.__name__ == "Lab"
    for name in dicomlab.__all__:
        assert getattr(dicomlab, name) is not None
    with pytest.raises(AttributeError):
        dicomlab.no_such_name  # noqa: B018


def test_errors_inherit_builtins():
    assert issubclass(dicomlab.InvalidIdentifierError, ValueError)
    assert issubclass(dicomlab.AlreadyExistsError, FileExistsError)
    assert issubclass(dicomlab.NotFoundError, LookupError)
    for name in dicomlab.__all__:
        obj = getattr(dicomlab, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, dicomlab.DicomlabError)
