"""Fixtures for the integration tests: real services, API doubles and the bad-input catalogues."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import dicomlab
from dicomlab.buckets.local import LocalBucket
from dicomlab.stores.dicomweb import DICOMwebStore
from tests.support.catalogue import TABLE, snapshot
from tests.support.faulty_proxy import FaultyProxy
from tests.support.gcs_emulator import StorageEmulator
from tests.support.gcs_emulator import missing_reason as storage_missing_reason
from tests.support.healthcare_double import HealthcareDouble
from tests.support.orthanc import OrthancServer, missing_reason
from tests.support.scripted import ScriptedServer


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


@pytest.fixture(scope="module")
def loaded(orthanc: OrthancServer, sample_files: list[Path]) -> DICOMwebStore:
    """The Orthanc fixture holding the sample cohort, uploaded with ``store_files``."""
    store = DICOMwebStore(orthanc.dicomweb_url)
    result = store.store_files(sample_files, batch_size=16)
    assert result.counter == {"success": len(sample_files), "failure": 0}, result.failures
    return store


# What each request through ``proxy`` meets, in turn (the schedule repeats).
FAULTS = ["pass", "503", "pass", "drop", "pass", "429", "delay", "pass", "drop", "pass"]


@pytest.fixture
def proxy(orthanc: OrthancServer, loaded: DICOMwebStore) -> Iterator[FaultyProxy]:
    """A proxy in front of the loaded Orthanc that meets requests with ``FAULTS`` in turn."""
    url = urlsplit(orthanc.dicomweb_url)
    with FaultyProxy((url.hostname, url.port), FAULTS, delay=0.2) as running:
        yield running


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


# ---- the bad-input catalogues ------------------------------------------------------------------


@pytest.fixture(scope="session")
def bad_input_lab(tmp_path_factory: pytest.TempPathFactory) -> dicomlab.Lab:
    """The catalogues' own exported lab: calls with bad inputs must leave it as it is.

    Not the shared ``exported_lab``: an injection that got through must not
    reach the tests that read that one.
    """
    lab = dicomlab.connect(home=tmp_path_factory.mktemp("bad-inputs"), warehouse=":memory:")
    lab.export_metadata(progress=False, workers=1)
    return lab


@pytest.fixture
def lab_state(
    bad_input_lab: dicomlab.Lab,
) -> Callable[[], tuple[list[str], int | None, dict[str, bytes]]]:
    """What a failed call must leave alone: the tables, the row count and the bucket."""
    lab = bad_input_lab

    def now() -> tuple[list[str], int | None, dict[str, bytes]]:
        return lab.warehouse.tables(), lab.warehouse.count_rows(TABLE), snapshot(lab.bucket.path)

    return now


@pytest.fixture(scope="session")
def scripted_server() -> Iterator[ScriptedServer]:
    """One scripted DICOMweb server; each test gives it its own script (``scripted(...)``)."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cohort_bucket(tmp_path: Path) -> LocalBucket:
    """A local bucket in ``tmp_path/bucket`` that holds ``cohort.txt``."""
    bucket = LocalBucket(tmp_path / "bucket")
    bucket.upload_bytes(b"/studies/1.2\n", "cohort.txt")
    return bucket
