"""Store URLs: credentials written into a DICOMweb base URL move out of it."""

from __future__ import annotations

import pytest

from dicomlab.errors import InvalidResourceError, UnsupportedBackendError
from dicomlab.stores.baseurl import split_store_url


def test_split_store_url_moves_credentials_out_of_the_url():
    assert split_store_url("http://alice:p%40ss%2F@h:1/dicom-web") == (
        "http://h:1/dicom-web",
        ("alice", "p@ss/"),
    )
    assert split_store_url("https://bob@h/dicom-web") == ("https://h/dicom-web", ("bob", ""))
    assert split_store_url("http://h/dicom-web/") == ("http://h/dicom-web/", None)
    # An unencoded '@' in the password still parses: the host is what follows the last one.
    assert split_store_url("http://u:p@w@h/dicom-web") == ("http://h/dicom-web", ("u", "p@w"))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://h/dicom-web?access_token=PW", "'http://h/dicom-web?access_token=****'"),
        ("http://h/dicom-web?x=1", "'http://h/dicom-web?x=1'"),
        ("http://h/dicom-web#token=PW", "'http://h/dicom-web#token=****'"),
        ("http://h/dicom-web?", "'http://h/dicom-web?'"),
        ("http://u:p/w@h/dicom-web", "'http://u:****@h/dicom-web'"),
    ],
)
def test_split_store_url_refuses_queries_and_unparsable_userinfo(url, shown):
    with pytest.raises(InvalidResourceError) as info:
        split_store_url(url)
    assert shown in str(info.value)
    assert "PW" not in str(info.value) and "p@w" not in str(info.value)
    assert info.value.value == shown.strip("'")


@pytest.mark.parametrize("url", ["http://", "https:///dicom-web", "http://[::1/dicom-web"])
def test_split_store_url_refuses_a_url_without_a_server(url):
    with pytest.raises(UnsupportedBackendError, match="has no server name"):
        split_store_url(url)
