"""lab.export_metadata's engine argument: checked before anything is read."""

from __future__ import annotations

from pathlib import Path

import pytest

import dicomlab
from dicomlab.errors import InvalidRequestError


@pytest.fixture
def lab(tmp_path: Path) -> dicomlab.Lab:
    return dicomlab.connect(home=tmp_path / "home")


def test_an_unknown_engine_is_named(lab: dicomlab.Lab) -> None:
    with pytest.raises(InvalidRequestError, match="'spark'"):
        lab.export_metadata(engine="spark")
    assert lab.warehouse.count_rows(lab.table) is None


def test_streaming_columns_are_the_local_engines(lab: dicomlab.Lab) -> None:
    with pytest.raises(InvalidRequestError, match="streaming_columns"):
        lab.export_metadata(engine="beam", streaming_columns=True)
