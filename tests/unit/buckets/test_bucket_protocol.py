"""Both buckets have every member of the Bucket protocol; only Cloud Storage has a client."""

from __future__ import annotations

import inspect

import pytest
from typing_extensions import get_protocol_members

from dicomlab.buckets.base import Bucket
from dicomlab.buckets.gcs import GcsBucket
from dicomlab.buckets.local import LocalBucket

CLIENT = object()  # stands for a google.cloud.storage.Client: nothing is sent


@pytest.fixture(params=["local", "gcs"])
def bucket(request: pytest.FixtureRequest, tmp_path) -> Bucket:
    if request.param == "local":
        return LocalBucket(tmp_path)
    return GcsBucket("gs://a-bucket/prefix", client=CLIENT)


def test_every_bucket_has_every_member_with_its_parameters(bucket):
    assert isinstance(bucket, Bucket)
    for name in sorted(get_protocol_members(Bucket)):
        declared = inspect.getattr_static(Bucket, name)
        if inspect.isfunction(declared):
            wanted = list(inspect.signature(declared).parameters)[1:]
            assert list(inspect.signature(getattr(bucket, name)).parameters) == wanted, name


def test_the_storage_client_is_the_one_given_and_none_for_a_folder(bucket):
    expected = CLIENT if bucket.url.startswith("gs://") else None
    assert bucket.storage_client() is expected
