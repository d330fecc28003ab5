"""Fixtures for adapter tests against real services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.gcs_emulator import StorageEmulator
from tests.support.gcs_emulator import missing_reason as storage_missing_reason
from tests.support.healthcare_double import HealthcareDouble
from tests.support.orthanc import OrthancServer, missing_reason


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


@pytest.fixture(scope="session")
def storage_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageEmulator]:
    """A throwaway in-memory gcp-storage-emulator with one bucket (shared by the session)."""
    reason = storage_missing_reason()
    if reason is not None:
        pytest.skip(f"Cloud Storage tests skipped: {reason}")
    server = StorageEmulator.start(tmp_path_factory.mktemp("gcs-emulator"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def healthcare_api() -> Iterator[HealthcareDouble]:
    """The local double of the Healthcare API's admin calls (shared by the session)."""
    with HealthcareDouble() as double:
        yield double
