"""Google-only services: the Cloud Healthcare API's admin calls, request bodies, operations."""

from typing import Any

from dicomlab._lazy import submodule, submodule_names


def __getattr__(name: str) -> Any:
    return submodule(__name__, name)


def __dir__() -> list[str]:
    return sorted(submodule_names(__path__))
