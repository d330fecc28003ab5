"""dicomlab: DICOM stores and BigQuery from a Jupyter notebook.

>>> import dicomlab
>>> lab = dicomlab.connect(home="my-lab")       # the embedded default, in ./my-lab
>>> lab.export_metadata(progress=False)
ExportResult(table='dicom_metadata', success=81, failure=0, ...)
>>> len(lab.query("latest_studies", limit=20))
7

Heavy libraries (DuckDB, ipywidgets, Google clients) load on first use, so
``import dicomlab`` stays fast. Submodules are attributes too, imported on
first access (``dicomlab.notebook.plots.cohort_summary(df)`` after ``import dicomlab``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dicomlab._lazy import submodule, submodule_names
from dicomlab.core.filterfile import FilterFile
from dicomlab.errors import (
    AlreadyExistsError,
    CostLimitError,
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
    OperationError,
    OperationTimeoutError,
    QueryError,
    RemoteError,
    RenderError,
    ServerDownError,
    UnsupportedBackendError,
)
from dicomlab.provenance import __version__

if TYPE_CHECKING:
    from dicomlab.audit import audit_notebook
    from dicomlab.lab import Lab, connect

__all__ = [
    "AlreadyExistsError",
    "CostLimitError",
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
    "OperationError",
    "OperationTimeoutError",
    "QueryError",
    "RemoteError",
    "RenderError",
    "ServerDownError",
    "UnsupportedBackendError",
    "__version__",
    "audit_notebook",
    "connect",
]


def __getattr__(name: str) -> Any:
    # Lab and connect come from dicomlab.lab, which loads every layer below it (and
    # sqlglot with the queries): imported on first use, so `import dicomlab` stays light.
    if name in ("Lab", "connect"):
        return getattr(importlib.import_module("dicomlab.lab"), name)
    if name == "audit_notebook":
        return importlib.import_module("dicomlab.audit").audit_notebook
    return submodule(__name__, name)


def __dir__() -> list[str]:
    return sorted({*__all__, *submodule_names(__path__)})
