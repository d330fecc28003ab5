"""The bad-input catalogue for flags: ``bool`` only.

A truthy stand-in such as ``"no"`` is refused before anything is done. One
row per public flag: the call raises :class:`InvalidRequestError` naming the
value, and nothing was written (bucket, warehouse table, download folder) and
no client was used (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dicomlab
from dicomlab.buckets.gcs import GcsBucket
from dicomlab.buckets.local import LocalBucket
from dicomlab.core.filterfile import FilterFile
from dicomlab.core.validation import validate_flag
from dicomlab.errors import InvalidRequestError
from tests.support.catalogue import Tripwire, snapshot

NOT_FLAGS = ["no", "False", 1, 0, None, [0], 1.0]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dicomlab.Lab:
    """This module's own exported lab, with a filter file already in its bucket."""
    lab = dicomlab.connect(home=tmp_path_factory.mktemp("flags"), warehouse=":memory:")
    lab.export_metadata(progress=False, workers=1)
    lab.upload(FilterFile.parse("/studies/1.2\n"), "cohort.txt")
    return lab


@pytest.fixture(scope="module")
def hits(lab: dicomlab.Lab) -> Any:
    return lab.query("patient_dicomweb_paths", patient_id="77654033")


def calls(lab: dicomlab.Lab, hits: Any, folder: Path) -> dict[str, Callable[[Any], object]]:
    """Each public flag, as a call taking the flag's value."""
    ff = FilterFile.parse("/studies/9.9\n")
    store = lab.store
    return {
        "Lab.upload(overwrite)": lambda v: lab.upload(ff, "cohort.txt", overwrite=v),
        "Lab.export_metadata(streaming_columns)": lambda v: lab.export_metadata(
            write_disposition="WRITE_TRUNCATE", progress=False, streaming_columns=v
        ),
        "Lab.export_metadata(progress)": lambda v: lab.export_metadata(
            write_disposition="WRITE_TRUNCATE", progress=v
        ),
        "Lab.export_cohort(overwrite)": lambda v: lab.export_cohort(
            hits, "flag_cohort", name="cohort.txt", overwrite=v, progress=False
        ),
        "Lab.export_cohort(progress)": lambda v: lab.export_cohort(
            hits, "flag_cohort", name="other.txt", progress=v
        ),
        "Lab.filter_file_in_cloud(overwrite)": lambda v: lab.filter_file_in_cloud(
            "latest_studies", "gs://b/x.txt", overwrite=v, limit=1
        ),
        "Lab.images(progress)": lambda v: lab.images(hits, progress=v),
        "Lab.images(viewer)": lambda v: lab.images(hits, progress=False, viewer=v),
        "store.download(overwrite)": lambda v: store.download(
            hits, folder, overwrite=v, progress=False
        ),
        "store.download(progress)": lambda v: store.download(hits, folder, progress=v),
        "store.fetch_thumbnails(progress)": lambda v: store.fetch_thumbnails(hits, progress=v),
        "store.fetch_thumbnails(placeholder)": lambda v: store.fetch_thumbnails(
            hits, progress=False, placeholder=v
        ),
        "LocalBucket.upload_bytes(overwrite)": lambda v: lab.bucket.upload_bytes(
            b"/studies/9.9\n", "cohort.txt", overwrite=v
        ),
        "GcsBucket.upload_bytes(overwrite)": lambda v: GcsBucket(
            "gs://bucket", client=Tripwire()
        ).upload_bytes(b"/studies/9.9\n", "cohort.txt", overwrite=v),
    }


NAMES = [  # the keys of calls(), one test row each
    "Lab.upload(overwrite)",
    "Lab.export_metadata(streaming_columns)",
    "Lab.export_metadata(progress)",
    "Lab.export_cohort(overwrite)",
    "Lab.export_cohort(progress)",
    "Lab.filter_file_in_cloud(overwrite)",
    "Lab.images(progress)",
    "Lab.images(viewer)",
    "store.download(overwrite)",
    "store.download(progress)",
    "store.fetch_thumbnails(progress)",
    "store.fetch_thumbnails(placeholder)",
    "LocalBucket.upload_bytes(overwrite)",
    "GcsBucket.upload_bytes(overwrite)",
]


@pytest.mark.parametrize("value", ["no", 1, None], ids=repr)
@pytest.mark.parametrize("call", NAMES)
def test_a_flag_that_is_not_a_bool_is_refused_and_changes_nothing(lab, hits, tmp_path, call, value):
    folder = tmp_path / "download"
    before = (
        snapshot(Path(lab.bucket.path)),
        lab.warehouse.tables(),
        lab.warehouse.count_rows(lab.table),
    )
    with pytest.raises(InvalidRequestError) as info:
        calls(lab, hits, folder)[call](value)
    assert type(info.value) is InvalidRequestError
    assert f"={value!r}" in str(info.value)  # the message names the value
    after = (
        snapshot(Path(lab.bucket.path)),
        lab.warehouse.tables(),
        lab.warehouse.count_rows(lab.table),
    )
    assert after == before
    assert not folder.exists()


@pytest.mark.parametrize("value", NOT_FLAGS, ids=repr)
def test_validate_flag_accepts_only_true_and_false(value):
    with pytest.raises(InvalidRequestError) as info:
        validate_flag(value, "overwrite")
    assert f"overwrite={value!r}" in str(info.value) and info.value.value == value
    assert validate_flag(True, "overwrite") is True and validate_flag(False, "x") is False


def test_an_upload_with_overwrite_no_keeps_the_object(tmp_path):
    bucket = LocalBucket(tmp_path)
    bucket.upload_bytes(b"/studies/1.2\n", "cohort.txt")
    with pytest.raises(InvalidRequestError, match="overwrite='no'"):
        bucket.upload_bytes(b"/studies/9.9\n", "cohort.txt", overwrite="no")
    assert (tmp_path / "cohort.txt").read_bytes() == b"/studies/1.2\n"
