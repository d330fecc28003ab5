"""Each name pattern has one owner: the modules that check such names agree with it."""

from __future__ import annotations

import pytest

from dicomlab.core.queries import parse_query
from dicomlab.core.resources import HealthcareDicomStore, validate_table_name
from dicomlab.errors import DicomlabError, InvalidIdentifierError, InvalidResourceError, QueryError
from dicomlab.google.healthcare import _operation_name
from dicomlab.warehouses.duckdb import _quote

DATASETS = [
    ("projects/p/locations/us/datasets/d", True),
    ("projects/example-com:my-proj/locations/us-central1/datasets/d.1_x", True),
    ("projects/p/locations/us/datasets/..", False),  # a path segment, not a dataset
    ("projects/pü/locations/us/datasets/d", False),  # projects are ASCII
    ("projects/p/locations/us/datasets/", False),
    ("projects/p/locations/us/datasets/a/b", False),
]


@pytest.mark.parametrize(("dataset", "valid"), DATASETS)
def test_operation_names_take_the_datasets_store_names_take(dataset, valid):
    store = f"{dataset}/dicomStores/s"
    operation = f"{dataset}/operations/42"
    if valid:
        assert str(HealthcareDicomStore.parse(store)) == store
        assert _operation_name(operation) == operation
    else:
        with pytest.raises(InvalidResourceError, match="DICOM store name"):
            HealthcareDicomStore.parse(store)
        with pytest.raises(InvalidResourceError, match="not an operation name"):
            _operation_name(operation)


IDENTIFIERS = [("dicom_metadata", True), ("_x9", True), ("9x", False), ("a-b", False), ("", False)]


@pytest.mark.parametrize(("name", "valid"), IDENTIFIERS)
def test_tables_columns_and_parameters_are_the_same_identifiers(name, valid):
    header = f"-- name: q\n-- description: A test.\n-- param: {name} INT64 A number.\n"
    if valid:
        assert validate_table_name(name) == name
        assert _quote(name) == f'"{name}"'
        assert parse_query(f"{header}SELECT @{name} AS n").parameters[0].name == name
    else:
        with pytest.raises(InvalidIdentifierError, match=repr(name)):
            validate_table_name(name)
        with pytest.raises(DicomlabError, match="unsafe SQL identifier"):
            _quote(name)
        with pytest.raises(QueryError):
            parse_query(f"{header}SELECT 1 AS n")


def test_a_table_name_is_at_most_1024_characters():
    assert validate_table_name("t" * 1024) == "t" * 1024
    with pytest.raises(InvalidIdentifierError, match="table name 'tttt"):
        validate_table_name("t" * 1025)
