"""The bad-input catalogue for resource names: Healthcare DICOM stores and ``bq://`` URIs.

Each is refused when parsed, and again by ``connect`` or the warehouse before
any client is used or any folder written (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import pytest

import dicomlab
from dicomlab.core.resources import BigQueryDataset, BigQueryTable, HealthcareDicomStore
from dicomlab.errors import InvalidResourceError
from dicomlab.warehouses.bigquery import BigQueryWarehouse
from tests.support.catalogue import Tripwire, assert_names

# ---- Healthcare store names ------------------------------------------------------------------

HC = "projects/p/locations/us/datasets/d"
HC_URL = "https://healthcare.googleapis.com"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(HC, id="no-store"),
        pytest.param(f"{HC}/dicomStores/", id="empty-store"),
        pytest.param(f"{HC}/dicomStores/s/", id="trailing-slash"),
        pytest.param("projects//locations/us/datasets/d/dicomStores/s", id="empty-project"),
        pytest.param(f"{HC}/fhirStores/s", id="fhir-store"),
        pytest.param(f"{HC}/dicomStores/s t", id="space"),
        pytest.param(f"{HC}/dicomStores/s?alt=json", id="query-string"),
        pytest.param(f"{HC}/dicomStores/s/dicomWeb/studies", id="dicomweb-subpath"),
        pytest.param(f"{HC}/dicomStores/s\n", id="trailing-newline"),
        pytest.param(f"{HC_URL}/v2/{HC}/dicomStores/s/dicomWeb", id="unknown-api-version"),
        pytest.param(f"{HC_URL}/v1/{HC}/dicomStores/{'s' * 257}/dicomWeb", id="257-char-store"),
        pytest.param(
            "projects/p/locations/us/datasets/../dicomStores/s",
            id="dot-dot-dataset",
        ),
        pytest.param(
            "projects/pé/locations/us/datasets/d/dicomStores/s",
            id="non-ascii-project",
        ),
    ],
)
def test_bad_healthcare_store_name(name, home):
    with pytest.raises(InvalidResourceError) as info:
        HealthcareDicomStore.parse(name)
    assert type(info.value) is InvalidResourceError
    assert_names(info.value, name)
    # connect() refuses it before looking for credentials or writing its data folder.
    with pytest.raises(InvalidResourceError) as info:
        dicomlab.connect(store=name, home=home)
    assert_names(info.value, name)
    assert not home.exists()


# ---- bq:// URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "uri"),
    [
        pytest.param(BigQueryTable, "my-project.imaging.t", id="no-scheme"),
        pytest.param(BigQueryTable, "bigquery://my-project.imaging.t", id="wrong-scheme"),
        pytest.param(BigQueryTable, "bq://my-project.imaging", id="table-missing"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.t.x", id="four-parts"),
        pytest.param(BigQueryTable, "bq://my-project..t", id="empty-dataset"),
        pytest.param(BigQueryTable, "bq://My-Project.imaging.t", id="uppercase-project"),
        pytest.param(BigQueryTable, "bq://proj.imaging.t", id="project-too-short"),
        pytest.param(BigQueryTable, "bq://my-project-.imaging.t", id="project-ends-with-hyphen"),
        pytest.param(BigQueryTable, "bq://my-project.ima-ging.t", id="hyphen-in-dataset"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.1table", id="table-starts-digit"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.t;DROP TABLE x", id="injection"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.t ", id="trailing-space"),
        pytest.param(BigQueryTable, "bq://my-project.imaging.tåble", id="non-ascii-table"),
        pytest.param(BigQueryTable, None, id="none"),
        pytest.param(BigQueryDataset, "bq://my-project", id="dataset-missing"),
        pytest.param(BigQueryDataset, "bq://my-project.imaging.t", id="dataset-with-table"),
        pytest.param(BigQueryDataset, "bq://a:b:my-project.imaging", id="two-domains"),
    ],
)
def test_bad_bigquery_uri(kind, uri):
    with pytest.raises(InvalidResourceError) as info:
        kind.parse(uri)
    assert type(info.value) is InvalidResourceError
    assert_names(info.value, uri)
    if kind is BigQueryDataset:  # as a warehouse: refused before any BigQuery call
        client = Tripwire()
        with pytest.raises(InvalidResourceError) as info:
            BigQueryWarehouse(uri, client=client)
        assert_names(info.value, uri)
        assert client.used == []
