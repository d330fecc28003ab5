import pytest

from dicomlab.core.resources import (
    BigQueryDataset,
    BigQueryTable,
    GcsUri,
    HealthcareDicomStore,
    validate_object_name,
    validate_table_name,
)
from dicomlab.errors import InvalidIdentifierError, InvalidResourceError


@pytest.mark.parametrize(
    "uri",
    [
        "bq://my-project.imaging.dicom_metadata",
        "bq://example.com:my-proj.ds_1.T2",
        "bq://abcdef.d.t",
    ],
)
def test_table_round_trip(uri):
    table = BigQueryTable.parse(uri)
    assert str(table) == uri
    assert BigQueryTable.parse(str(table)) == table


def test_table_parts():
    table = BigQueryTable.parse("bq://example.com:my-proj.ds.t")
    assert (table.project_id, table.dataset_id, table.table_id) == (
        "example.com:my-proj",
        "ds",
        "t",
    )
    assert table.dataset == BigQueryDataset("example.com:my-proj", "ds")
    assert BigQueryDataset.parse("bq://my-project.ds").table("t") == BigQueryTable(
        "my-project", "ds", "t"
    )


@pytest.mark.parametrize(
    ("uri", "names"),
    [
        ("my-project.ds.t", "my-project.ds.t"),
        ("bq://my-project.ds", "bq://my-project.ds"),
        ("bq://my-project.ds.t.x", "bq://my-project.ds.t.x"),
        ("bq://My-Project.ds.t", "My-Project"),
        ("bq://my-project.ds-x.t", "ds-x"),
        ("bq://my-project.ds.t-1", "t-1"),
        ("bq://my-project.ds.t;DROP", "t;DROP"),
        ("bq://my-project..t", "bq://my-project..t"),
        ("gs://bucket/x", "gs://bucket/x"),
    ],
)
def test_table_rejects(uri, names):
    with pytest.raises(InvalidResourceError) as info:
        BigQueryTable.parse(uri)
    assert names in str(info.value)


@pytest.mark.parametrize("uri", ["gs://my-bucket", "gs://my-bucket/a/b.txt", "gs://a.b-c_d/x y"])
def test_gcs_round_trip(uri):
    assert str(GcsUri.parse(uri)) == uri


def test_gcs_join_and_parts():
    base = GcsUri.parse("gs://my-bucket/cohorts/")
    assert str(base / "lung.txt") == "gs://my-bucket/cohorts/lung.txt"
    assert str(GcsUri("my-bucket") / "x") == "gs://my-bucket/x"


@pytest.mark.parametrize(
    ("uri", "names"),
    [
        ("s3://bucket/x", "s3://bucket/x"),
        ("gs://UPPER/x", "UPPER"),
        ("gs://ab/x", "'ab'"),
        ("gs://bucket/a\nb", "line break"),
        ("gs://-bucket/x", "-bucket"),
    ],
)
def test_gcs_rejects(uri, names):
    with pytest.raises(InvalidResourceError) as info:
        GcsUri.parse(uri)
    assert names in str(info.value)


def test_healthcare_store_round_trip_and_url():
    name = "projects/my-proj/locations/us-central1/datasets/ds.1/dicomStores/store_1"
    store = HealthcareDicomStore.parse(name)
    assert str(store) == name
    assert HealthcareDicomStore.parse(store.dicomweb_url()) == store
    assert HealthcareDicomStore.parse(store.dicomweb_url("v1beta1") + "/") == store
    assert store.location == "us-central1"


@pytest.mark.parametrize(
    "name",
    [
        "projects/p/locations/l/datasets/d",
        "projects/p/locations/l/datasets/d/dicomStores/",
        "projects/p q/locations/l/datasets/d/dicomStores/s",
        "http://x/dicom-web",
        "",
    ],
)
def test_healthcare_store_rejects(name):
    with pytest.raises(InvalidResourceError) as info:
        HealthcareDicomStore.parse(name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("name", ["dicom_metadata", "_x", "T1"])
def test_table_names(name):
    assert validate_table_name(name) == name


@pytest.mark.parametrize(
    "name", ["1abc", "a-b", "a b", "a;DROP TABLE x", "", 'dicom_metadata"', None]
)
def test_table_names_rejected(name):
    with pytest.raises(InvalidIdentifierError) as info:
        validate_table_name(name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("name", ["../x", "a//b", "/abs", "a/", "a\\b", "", "a/./b", "x\n"])
def test_object_names_rejected(name):
    with pytest.raises(InvalidIdentifierError) as info:
        validate_object_name(name)
    assert repr(name) in str(info.value)
