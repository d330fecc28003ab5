"""DICOM to BigQuery rows, pure: the table schema, value conversion, flattening, Arrow."""

from typing import Any

from dicomlab._lazy import submodule, submodule_names


def __getattr__(name: str) -> Any:
    return submodule(__name__, name)


def __dir__() -> list[str]:
    return sorted(submodule_names(__path__))
