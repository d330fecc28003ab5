"""Submodules as attributes, imported on first access.

``import dicomlab`` loads almost nothing; ``dicomlab.notebook.plots`` still
works after it, because each package's ``__getattr__`` imports a submodule
the first time it is named (``import_module`` also binds it, so this runs
once per name).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterable
from types import ModuleType


def submodule(package: str, name: str) -> ModuleType:
    """Import ``package.name`` if it exists, else raise ``AttributeError``."""
    if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
        return importlib.import_module(f"{package}.{name}")
    raise AttributeError(f"module {package!r} has no attribute {name!r}")


def submodule_names(path: Iterable[str]) -> set[str]:
    """The public submodules and subpackages found on a package's ``__path__``."""
    return {m.name for m in pkgutil.iter_modules(list(path)) if not m.name.startswith("_")}
