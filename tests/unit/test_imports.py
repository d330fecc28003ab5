"""Import hygiene: `import dicomlab` stays light, the pure core stays pure."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dicomlab

ROOT = Path(__file__).resolve().parents[2]

HEAVY = [
    "google.auth",
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
    "dicomlab.core.uids",
    "dicomlab.core.resources",
    "dicomlab.core.filterfile",
    "dicomlab.core.filterlines",
    "dicomlab.rows.schema",
    "dicomlab.rows.flatten",
    "dicomlab.rows.values",
    "dicomlab.rows.placement",
    "dicomlab.rows.part10",
    "dicomlab.core.queries",
    "dicomlab.core.sqlcompat",
    "dicomlab.core.sqlrewrite",
    "dicomlab.core.sqlscript",
    "dicomlab.core.sqltext",
    "dicomlab.core.sqltranslate",
    "dicomlab.core.queryparams",
    "dicomlab.core.render",
    "dicomlab.core.dicomjson",
    "dicomlab.errors",
    "dicomlab.redaction",
    "dicomlab.core.validation",
    "dicomlab.google.request_bodies",
    "dicomlab.google.operation_status",
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


def _submodules() -> set[str]:
    folder = Path(dicomlab.__file__).parent
    return {m.name for m in pkgutil.iter_modules([str(folder)]) if not m.name.startswith("_")}


def test_public_names():
    public = {n for n in dir(dicomlab) if not n.startswith("_")}
    assert set(dicomlab.__all__) == public - _submodules() | {"__version__"}
    assert callable(dicomlab.connect) and dicomlab.Lab.__name__ == "Lab"
    for name in dicomlab.__all__:
        assert getattr(dicomlab, name) is not None
    with pytest.raises(AttributeError):
        dicomlab.no_such_name  # noqa: B018


def test_every_submodule_is_an_attribute_loaded_on_first_use():
    names = sorted(_submodules())
    assert set(names) <= set(dir(dicomlab)), set(names) - set(dir(dicomlab))
    code = (
        "import sys, json, dicomlab\n"
        "before = [n for n in sys.modules if n.startswith('dicomlab.notebook.plots')]\n"
        f"found = [getattr(dicomlab, n).__name__ for n in {names!r}]\n"
        "print(json.dumps([before, found, dicomlab.notebook.plots.cohort_summary.__name__]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    before, found, summary = json.loads(out.stdout)
    assert before == [], "dicomlab.notebook.plots was imported by `import dicomlab`"
    assert found == [f"dicomlab.{name}" for name in names]
    assert summary == "cohort_summary"


DESIGN_PACKAGES = {"google-auth", "google-cloud-bigquery", "requests"}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_design_packages_install_by_default_and_gcp_keeps_the_rest():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    default = _requirement_names(project["dependencies"])
    gcp = _requirement_names(project["optional-dependencies"]["gcp"])
    assert default >= DESIGN_PACKAGES, DESIGN_PACKAGES - default
    assert not gcp & default, gcp & default
    assert gcp == {"google-cloud-storage"}


def test_errors_inherit_builtins():
    assert issubclass(dicomlab.InvalidIdentifierError, ValueError)
    assert issubclass(dicomlab.AlreadyExistsError, FileExistsError)
    assert issubclass(dicomlab.NotFoundError, LookupError)
    for name in dicomlab.__all__:
        obj = getattr(dicomlab, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, dicomlab.DicomlabError)
