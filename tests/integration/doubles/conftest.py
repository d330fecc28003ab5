"""Fixtures for the tests of the API doubles themselves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bigquery_double import BigQueryDouble

PROJECT = "test-project"


@pytest.fixture(scope="module")
def bigquery_server() -> Iterator[BigQueryDouble]:
    """A BigQuery double for project ``test-project``, one per test module."""
    with BigQueryDouble(PROJECT) as double:
        yield double
