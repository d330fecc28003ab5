"""The series viewer renders the neighbours of the image shown ahead, on a background thread."""

from __future__ import annotations

import time

import pytest

from dicomlab.core.render import render_frame
from dicomlab.errors import InvalidRequestError
from dicomlab.notebook.frames import neighbours
from dicomlab.notebook.viewer import SeriesViewer
from dicomlab.samples.realistic import generate_realistic
from dicomlab.stores.folder import FolderStore
from tests.unit.notebook.test_viewer import Wrapped


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> FolderStore:
    """A 10-slice 64x64 CT series of the realistic synthetic cohort."""
    folder = tmp_path_factory.mktemp("prefetch")
    generate_realistic(folder, kinds=["CT"], syntaxes=["explicit"], instances=10, scale=0.125)
    return FolderStore(folder)


def _viewer(store, **options) -> SeriesViewer:
    row = store.search_instances().iloc[0]
    return SeriesViewer(
        store, row["StudyInstanceUID"], row["SeriesInstanceUID"], size=64, **options
    )


def _settle(viewer: SeriesViewer) -> None:
    """Wait until nothing is being rendered ahead."""
    deadline = time.monotonic() + 30
    while viewer._frames._pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not viewer._frames._pending


def test_neighbours_are_rendered_ahead_and_shown_without_fetching(ct):
    store = Wrapped(ct)
    viewer = _viewer(store, start=4, prefetch=3)
    _settle(viewer)
    ahead = {viewer._ref(i).instance for i in (5, 6, 3)}
    assert set(store.fetched) == ahead | {viewer.current_ref.instance}
    fetched = len(store.fetched)
    viewer.show(5)
    assert viewer.message is None
    expected, applied = render_frame(viewer.dataset, size=64, media_type="image/png")
    assert viewer.image.value == expected and viewer.applied == applied
    _settle(viewer)
    assert store.fetched[fetched:] == [viewer._ref(7).instance]  # only the new neighbour


def test_moving_back_renders_ahead_backwards(ct):
    store = Wrapped(ct)
    viewer = _viewer(store, start=6, prefetch=2)
    _settle(viewer)
    viewer.show(5)
    _settle(viewer)
    assert set(store.fetched[-2:]) == {viewer._ref(4).instance, viewer._ref(3).instance}


def test_a_new_window_is_not_served_from_the_old_one(ct):
    viewer = _viewer(ct, start=2, prefetch=2)
    _settle(viewer)
    viewer.set_preset("lung")
    _settle(viewer)
    viewer.show(3)
    expected, _ = render_frame(viewer.dataset, size=64, window=(-600.0, 1500.0))
    assert viewer.image.value == expected
    assert viewer.applied.source == "given"


def test_failures_ahead_are_left_to_the_viewer_to_show(ct):
    viewer = _viewer(Wrapped(ct), start=0, prefetch=2)
    _settle(viewer)
    viewer._frames.store = Wrapped(ct, fail=True)  # from now on every fetch fails
    viewer._frames._datasets.clear()
    viewer._frames._images.clear()
    viewer.show(3)  # its neighbours fail in the background too, and raise nothing
    _settle(viewer)
    assert viewer.message is not None and "vanished" in viewer.message
    assert viewer.image.layout.display == "none"


def test_close_stops_rendering_ahead_and_the_viewer_still_works(ct):
    store = Wrapped(ct)
    viewer = _viewer(store, start=0, prefetch=3)
    _settle(viewer)
    viewer.close()
    before = len(store.fetched)
    viewer.show(8)
    assert viewer.message is None and len(store.fetched) == before + 1


def test_prefetch_zero_renders_only_what_is_shown(ct):
    store = Wrapped(ct)
    _viewer(store, start=0, prefetch=0)
    assert len(store.fetched) == 1


def test_prefetch_must_be_a_count(ct):
    with pytest.raises(InvalidRequestError, match="prefetch"):
        _viewer(ct, prefetch=-1)


@pytest.mark.parametrize(
    ("index", "step", "count", "length", "expected"),
    [(5, 1, 4, 10, [6, 7, 4, 8]), (5, -1, 4, 10, [4, 3, 6, 2]), (9, 1, 3, 10, [8, 7, 6]),
     (0, 1, 5, 1, []), (2, 1, 9, 4, [3, 1, 0])],
)  # fmt: skip
def test_neighbours_go_ahead_twice_as_far_as_behind(index, step, count, length, expected):
    assert neighbours(index, step, count, length) == expected
