"""The bad-input catalogue for rows: a pandas DataFrame only.

A list of UIDs or ``None`` where query or search rows are due is refused with
an :class:`InvalidRequestError` naming the type given, not an
``AttributeError`` about ``.columns`` from deep inside the call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dicomlab
from dicomlab.errors import InvalidRequestError
from dicomlab.notebook.plots import cohort_summary


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dicomlab.Lab:
    return dicomlab.connect(home=tmp_path_factory.mktemp("frames"), warehouse=":memory:")


def calls(lab: dicomlab.Lab, folder: Path) -> dict[str, Callable[[Any], object]]:
    """Each public call taking rows, as a call taking the rows."""
    return {
        "Lab.images": lambda v: lab.images(v, progress=False),
        "Lab.review": lambda v: lab.review(v, name="frames", progress=False),
        "Lab.reviewed": lambda v: lab.reviewed(v, review="frames"),
        "Store.fetch_thumbnails": lambda v: lab.store.fetch_thumbnails(v),
        "Store.download": lambda v: lab.store.download(v, folder / "files"),
        "plots.cohort_summary": cohort_summary,
    }


CALLS = ["Lab.images", "Lab.review", "Lab.reviewed", "Store.fetch_thumbnails", "Store.download",
         "plots.cohort_summary"]  # fmt: skip


@pytest.mark.parametrize("rows", [["1.2.3"], None, {"StudyInstanceUID": "1.2.3"}])
@pytest.mark.parametrize("call", CALLS)
def test_rows_that_are_not_a_dataframe_are_refused_naming_the_type(lab, tmp_path, call, rows):
    with pytest.raises(InvalidRequestError, match="must be a pandas DataFrame") as caught:
        calls(lab, tmp_path)[call](rows)
    assert type(rows).__name__ in str(caught.value)
    assert not (tmp_path / "files").exists()
