"""The pure core: identifiers, resource paths, filter files, canned SQL, rendering (no I/O)."""

from typing import Any

from dicomlab._lazy import submodule, submodule_names


def __getattr__(name: str) -> Any:
    return submodule(__name__, name)


def __dir__() -> list[str]:
    return sorted(submodule_names(__path__))
