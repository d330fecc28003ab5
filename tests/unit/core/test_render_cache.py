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


def test_discarding_an_instance_keeps_instances_whose_uid_it_starts(tmp_path):
    cache = RenderCache(tmp_path)
    short = CacheKey(STORE, ("1.2", "1.2.3", "1.2.3.4"), 1, "image/png", 64)
    longer = CacheKey(STORE, ("1.2", "1.2.3", "1.2.3.45"), 1, "image/png", 64)
    child = CacheKey(STORE, ("1.2", "1.2.3", "1.2.3.4.5"), 1, "image/png", 64)
    for key in (short, longer, child):
        cache.put(key, b"png")
    cache.discard(STORE, ("1.2", "1.2.3", "1.2.3.4"))
    assert cache.get(short) is None
    assert cache.get(longer) == cache.get(child) == b"png"


def test_put_soon_is_readable_at_once_and_on_disk_after_flush(tmp_path):
    cache = RenderCache(tmp_path)
    key = CacheKey(STORE, ("1.2", "1.2.3", "1.2.3.4"), 1, "image/png", 64)
    cache.put_soon(key, b"png")
    assert cache.get(key) == b"png"
    cache.flush()
    assert cache.path(key).read_bytes() == b"png"
    assert RenderCache(tmp_path).get(key) == b"png"  # another cache on the same folder
    cache.put_soon(key, b"newer")
    cache.discard(STORE, ("1.2",))  # waits for the write, then drops it
    assert cache.get(key) is None and not cache.path(key).exists()


def test_a_failed_background_write_is_logged_not_raised(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    cache = RenderCache(blocker)
    key = CacheKey(STORE, ("1.2", "1.2.3", "1.2.3.4"), 1, "image/png", 64)
    cache.put_soon(key, b"png")
    cache.flush()
    assert "could not write" in caplog.text
    assert cache.get(key) is None  # nothing pending is left behind
