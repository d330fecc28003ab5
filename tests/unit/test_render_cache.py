"""The on-disk render cache: keys, atomic entries, discarding by study/series/instance."""

from __future__ import annotations

import pytest

from dicomlab.errors import InvalidIdentifierError
from dicomlab.stores.cache import CacheKey, RenderCache

STORE = "http://127.0.0.1:8042/dicom-web"
UIDS = ("1.2", "1.2.3", "1.2.3.4")


def _key(**changes) -> CacheKey:
    fields = {"store": STORE, "uids": UIDS, "frame": 1, "media_type": "image/jpeg", "size": 64}
    fields.update(changes)
    return CacheKey(**fields)


@pytest.mark.parametrize(
    "change",
    [
        {"store": "http://other/dicom-web"},
        {"uids": ("1.2", "1.2.3", "1.2.3.5")},
        {"frame": 2},
        {"media_type": "image/png"},
        {"size": 65},
        {"options": (("window", (40, 400)),)},
    ],
)
def test_every_part_of_the_key_matters(tmp_path, change):
    cache = RenderCache(tmp_path)
    cache.put(_key(), b"first")
    assert cache.get(_key(**change)) is None
    cache.put(_key(**change), b"second")
    assert cache.get(_key()) == b"first" and cache.get(_key(**change)) == b"second"


@pytest.mark.parametrize("bad", ["..", "../../etc", "1.2/3", "", "1.02"])
def test_uids_are_validated_before_they_become_paths(tmp_path, bad):
    cache = RenderCache(tmp_path)
    with pytest.raises(InvalidIdentifierError):
        cache.put(_key(uids=("1.2", bad, "1.2.3.4")), b"x")
    with pytest.raises(InvalidIdentifierError):
        cache.discard(STORE, ("1.2", bad))
    assert list(tmp_path.iterdir()) == []


def test_discard_drops_one_series_and_keeps_the_rest(tmp_path):
    cache = RenderCache(tmp_path)
    other = _key(uids=("1.2", "1.2.9", "1.2.9.1"))
    cache.put(_key(), b"a")
    cache.put(other, b"b")
    cache.discard(STORE, ("1.2", "1.2.3"))
    assert cache.get(_key()) is None and cache.get(other) == b"b"
    cache.discard("http://other/dicom-web", ("1.2",))
    assert cache.get(other) == b"b"


def test_no_temporary_files_are_left_behind(tmp_path):
    cache = RenderCache(tmp_path)
    cache.put(_key(), b"a")
    cache.put(_key(), b"b")
    files = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1 and not files[0].startswith(".tmp-")
    assert cache.get(_key()) == b"b"
