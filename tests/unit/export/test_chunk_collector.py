"""Flattening a chunk pauses Python's cycle collector, and always gives it back."""

from __future__ import annotations

import gc

import pytest
from pydicom.data import get_testdata_file

from dicomlab.export import chunks


def test_the_collector_is_paused_while_a_chunk_is_flattened_and_enabled_after(
    tmp_path, monkeypatch
):
    seen: list[bool] = []
    real = chunks.flatten_part10

    def watching(data, **kwargs):
        seen.append(gc.isenabled())
        return real(data, **kwargs)

    monkeypatch.setattr(chunks, "flatten_part10", watching)
    path = get_testdata_file("CT_small.dcm")
    assert gc.isenabled()
    summary = chunks.flatten_files([("a", path), ("b", path)], tmp_path / "c.arrow")
    assert summary.rows == 2 and seen == [False, False]
    assert gc.isenabled()


def test_an_error_in_a_chunk_gives_the_collector_back(tmp_path, monkeypatch):
    def failing(data, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(chunks, "flatten_part10", failing)
    with pytest.raises(KeyboardInterrupt):
        chunks.flatten_files([("a", get_testdata_file("CT_small.dcm"))], tmp_path / "c.arrow")
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off(tmp_path):
    gc.disable()
    try:
        chunks.flatten_files([("a", get_testdata_file("CT_small.dcm"))], tmp_path / "c.arrow")
        assert not gc.isenabled()
    finally:
        gc.enable()
