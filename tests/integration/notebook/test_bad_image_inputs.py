"""The bad-input catalogue for image grids and thumbnails: sizes, limits, columns.

Each is refused with an ``InvalidRequestError`` naming the argument and its
value, before a thumbnail is fetched (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import pytest

from dicomlab.errors import InvalidRequestError
from dicomlab.stores.base import InstanceRef


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        pytest.param("limit", 2.5, id="limit-float"),
        pytest.param("limit", 0, id="limit-zero"),
        pytest.param("limit", True, id="limit-bool"),
        pytest.param("size", "64", id="size-str"),
        pytest.param("size", -5, id="size-negative"),
        pytest.param("columns", 1.5, id="columns-float"),
        pytest.param("concurrency", "8", id="concurrency-str"),
    ],
)
def test_bad_image_grid_argument_is_refused(bad_input_lab, argument, value):
    hits = bad_input_lab.query("patient_dicomweb_paths", patient_id="77654033")
    with pytest.raises(InvalidRequestError) as info:
        bad_input_lab.images(hits, progress=False, **{argument: value})
    assert f"{argument}={value!r}" in str(info.value)


@pytest.mark.parametrize("value", ["64", 0, -5, 64.0, None])
def test_bad_thumbnail_size_fetches_nothing(bad_input_lab, value):
    hits = bad_input_lab.query("patient_dicomweb_paths", patient_id="77654033")
    calls: list[object] = []
    original = bad_input_lab.store.fetch_thumbnail
    bad_input_lab.store.fetch_thumbnail = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        with pytest.raises(InvalidRequestError) as info:
            bad_input_lab.store.fetch_thumbnails(hits, size=value, progress=False)
        assert f"size={value!r}" in str(info.value)
        with pytest.raises(InvalidRequestError):
            original(InstanceRef("1.2", "1.2.3", "1.2.3.4"), size=value)
    finally:
        del bad_input_lab.store.fetch_thumbnail
    assert calls == []
