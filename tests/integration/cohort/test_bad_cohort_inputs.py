"""The bad-input catalogue for ``export_cohort`` destinations.

Each is refused before a filter file or a provenance record is written
(see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import pytest

import dicomlab
from dicomlab.buckets.local import LocalBucket
from dicomlab.errors import InvalidIdentifierError, InvalidResourceError
from tests.support.catalogue import TABLE, assert_names, snapshot


@pytest.mark.parametrize(
    "destination",
    [
        pytest.param("bq://My-Project.imaging.cohort", id="bq-uppercase-project"),
        pytest.param("bq://my-project.imaging", id="bq-table-missing"),
        pytest.param("cohort table", id="table-name-with-space"),
        pytest.param("gs://Bad_Bucket/cohort", id="gs-uppercase-bucket"),
    ],
)
def test_bad_cohort_destination_uploads_nothing(bad_input_lab, tmp_path, destination):
    own = dicomlab.Lab(
        bad_input_lab.store, bad_input_lab.warehouse, LocalBucket(tmp_path / "bucket")
    )
    hits = own.query("patient_dicomweb_paths", patient_id="77654033")
    tables, rows = own.warehouse.tables(), own.warehouse.count_rows(TABLE)
    with pytest.raises((InvalidResourceError, InvalidIdentifierError)) as info:
        own.export_cohort(hits, destination, name="cohort.txt", progress=False)
    assert type(info.value) in (InvalidResourceError, InvalidIdentifierError)
    assert_names(info.value, destination)
    assert snapshot(tmp_path) == {}  # no filter file, no provenance record
    assert (own.warehouse.tables(), own.warehouse.count_rows(TABLE)) == (tables, rows)
