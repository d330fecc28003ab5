"""Fixtures for adapter tests against real services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.orthanc import OrthancServer, missing_reason


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A throwaway Orthanc with DICOMweb on 127.0.0.1 (empty at start; shared by the session)."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(f"Orthanc tests skipped: {reason}")
    server = OrthancServer.start(tmp_path_factory.mktemp("orthanc"))
    try:
        yield server
    finally:
        server.stop()
