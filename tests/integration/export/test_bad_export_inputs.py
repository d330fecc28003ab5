"""The bad-input catalogue for ``export_metadata``: table names, write dispositions, flags.

Each is refused before a row is written; the warehouse and the bucket stay as
they were (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import pytest

import dicomlab
from dicomlab.errors import AlreadyExistsError, InvalidIdentifierError, InvalidRequestError
from dicomlab.stores.folder import FolderStore
from tests.support.catalogue import TABLE, assert_names, two_good_files


@pytest.mark.parametrize(
    "table",
    [
        pytest.param("1abc", id="starts-with-digit"),
        pytest.param("dicom-metadata", id="hyphen"),
        pytest.param("dicom metadata", id="space"),
        pytest.param('x"; DROP TABLE dicom_metadata; --', id="injection"),
        pytest.param("tåble", id="non-ascii"),
        pytest.param("dicom_metadata\n", id="trailing-newline"),
        pytest.param("a" * 1025, id="1025-chars"),
        pytest.param(
            "",
            id="empty",
        ),
    ],
)
def test_bad_table_name_exports_nothing(tmp_path, table):
    # A lab whose table is still empty: a fallback to the default table would write it.
    store = FolderStore(two_good_files(tmp_path))
    lab = dicomlab.connect(store=store, warehouse=":memory:", home=tmp_path / "home")
    with pytest.raises(InvalidIdentifierError) as info:
        lab.export_metadata(table=table, progress=False, workers=1)
    assert type(info.value) is InvalidIdentifierError
    assert_names(info.value, table)
    assert lab.warehouse.tables() == []


@pytest.mark.parametrize(
    "disposition",
    [
        pytest.param("write_truncate", id="lowercase"),
        pytest.param("TRUNCATE", id="short-form"),
        pytest.param("WRITE_TRUNCATE ", id="trailing-space"),
        pytest.param(None, id="none"),
    ],
)
def test_bad_write_disposition_changes_nothing(bad_input_lab, lab_state, disposition):
    before = lab_state()
    with pytest.raises(InvalidIdentifierError) as info:
        bad_input_lab.export_metadata(write_disposition=disposition, progress=False, workers=1)
    assert type(info.value) is InvalidIdentifierError
    assert_names(info.value, disposition)
    assert lab_state() == before


@pytest.mark.parametrize(
    "allow_partial",
    [
        pytest.param(1, id="one"),
        pytest.param("yes", id="string"),
        pytest.param(None, id="none"),
    ],
)
def test_allow_partial_must_be_a_bool(bad_input_lab, lab_state, allow_partial):
    before = lab_state()
    with pytest.raises(InvalidRequestError) as info:
        bad_input_lab.export_metadata(
            "other_table", "WRITE_TRUNCATE", allow_partial=allow_partial, progress=False, workers=1
        )
    assert type(info.value) is InvalidRequestError
    assert_names(info.value, allow_partial)
    assert lab_state() == before


def test_write_empty_into_a_table_with_rows_changes_nothing(bad_input_lab, lab_state):
    before = lab_state()
    with pytest.raises(AlreadyExistsError) as info:
        bad_input_lab.export_metadata(TABLE, "WRITE_EMPTY", progress=False, workers=1)
    assert type(info.value) is AlreadyExistsError
    assert_names(info.value, TABLE)
    assert lab_state() == before
