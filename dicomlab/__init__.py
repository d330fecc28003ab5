"""dicomlab: DICOM stores and BigQuery from a Jupyter notebook.

>>> import dicomlab
>>> lab = dicomlab.connect()                     # doctest: +SKIP
>>> lab.export_metadata()                        # doctest: +SKIP
>>> lab.query("latest_studies", limit=20)        # doctest: +SKIP

Heavy libraries (DuckDB, ipywidgets, Google clients) load on first use, so
``import dicomlab`` stays fast. Submodules are attributes too, imported on
first access (``dicomlab.plots.cohort_summary(df)`` after ``import dicomlab``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dicomlab.errors import (
    AlreadyExistsError,
    CredentialsError,
    DicomlabError,
    DicomReadError,
    DuplicateInstanceError,
    FilterFileError,
    IncompleteReadError,
    InstanceMismatchError,
    InvalidIdentifierError,
    InvalidRequestError,
    InvalidResourceError,
    LocalFileError,
    NotFoundError,
    QueryError,
    RemoteError,
    RenderError,
    ServerDownError,
    UnsupportedBackendError,
)
from dicomlab.filterfile import FilterFile

if TYPE_CHECKING:
    from dicomlab.lab import Lab, connect

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "CredentialsError",
    "DicomReadError",
    "DicomlabError",
    "DuplicateInstanceError",
    "FilterFile",
    "FilterFileError",
    "IncompleteReadError",
    "InstanceMismatchError",
    "InvalidIdentifierError",
    "InvalidRequestError",
    "InvalidResourceError",
    "Lab",
    "LocalFileError",
    "NotFoundError",
    "QueryError",
    "RemoteError",
    "RenderError",
    "ServerDownError",
    "UnsupportedBackendError",
    "__version__",
    "connect",
]

_LAZY = {"Lab": "dicomlab.lab", "connect": "dicomlab.lab"}


def __getattr__(name: str) -> Any:
    import importlib
    import importlib.util

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    # Any submodule is an attribute, imported on first access (import_module also
    # binds it here, so this runs once per name).
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'dicomlab' has no attribute {name!r}")


def _submodules() -> set[str]:
    import pkgutil

    return {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}


def __dir__() -> list[str]:
    return sorted({*__all__, *_submodules()})
