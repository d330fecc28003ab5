"""Import hygiene: `import dicomlab` stays light, the layers hold, the public names are complete."""

from __future__ import annotations

import json
import os
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


def _loaded_after(statement: str, names: list[str]) -> list[str]:
    code = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps([n for n in {names!r} if n in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def test_import_dicomlab_is_light():
    assert _loaded_after("import dicomlab", HEAVY) == []


def _contracts() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_import_linter_contracts_hold():
    """The layers of ARCHITECTURE.md, checked by import-linter on this tree's code."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _layered(contracts: dict) -> set[str]:
    (layers,) = [c for c in contracts["contracts"] if c["type"] == "layers"]
    names = {n.strip().strip("()") for line in layers["layers"] for n in line.split("|")}
    return {n.removeprefix("dicomlab.") for n in names}


def test_every_module_of_the_package_has_a_layer():
    """A new top-level module or package must be placed in the layers, or nothing checks it."""
    unlayered = _submodules() - _layered(_contracts()) - {"conftest"}
    assert unlayered == set(), f"add {sorted(unlayered)} to the layers in pyproject.toml"


def test_pure_layers_forbid_the_io_libraries():
    """core and rows stay testable without I/O: the contract names both and the I/O libraries."""
    contracts = _contracts()
    assert contracts["include_external_packages"] is True  # else external names are not seen
    (pure,) = [c for c in contracts["contracts"] if c.get("id") == "pure-core"]
    assert {"dicomlab.core", "dicomlab.rows"} <= set(pure["source_modules"])
    assert set(pure["forbidden_modules"]) >= {"google", "requests", "duckdb", "ipywidgets"}


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


def test_every_public_exception_is_in_errors_and_exported():
    from dicomlab import errors

    classes = {n: getattr(errors, n) for n in errors.__all__}
    exceptions = {n for n, c in classes.items() if not issubclass(c, Warning)}
    assert exceptions <= set(dicomlab.__all__), exceptions - set(dicomlab.__all__)
    assert all(issubclass(c, UserWarning) for n, c in classes.items() if n not in exceptions)
    # Defined in errors.py itself, not re-exported from elsewhere.
    assert {c.__module__ for c in classes.values()} == {"dicomlab.errors"}


def test_version_is_written_once():
    tomllib = pytest.importorskip("tomllib")

    from dicomlab import provenance

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "dicomlab/provenance.py"
    assert dicomlab.__version__ == provenance.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", dicomlab.__version__)
