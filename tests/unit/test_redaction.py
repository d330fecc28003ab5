"""URL redaction: userinfo and token-like parameters never survive, anything else does."""

from __future__ import annotations

import traceback

import pytest

from dicomlab.errors import (
    DicomlabError,
    InvalidIdentifierError,
    RemoteError,
)
from dicomlab.redaction import redact_url, redact_values, safe_cause


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://alice:PW@host/dicom-web", "http://alice:****@host/dicom-web"),
        ("https://TOKEN@host/x", "https://****@host/x"),
        ("http://alice:p%2Fw@host:8042/x", "http://alice:****@host:8042/x"),
        ("http://alice:p/w@host/x", "http://alice:****@host/x"),  # unencoded '/'
        ("http://alice:p@w/x@host/y", "http://alice:****@host/y"),  # unencoded '@' and '/'
        ("postgresql://u:PW@db/lab", "postgresql://u:****@db/lab"),
        ("https://h/x?access_token=PW&limit=5", "https://h/x?access_token=****&limit=5"),
        ("https://h/x?limit=5&api_key=PW", "https://h/x?limit=5&api_key=****"),
        ("https://h/o?X-Goog-Signature=PW&X-Goog-Credential=PW", None),
        ("https://h/cb#access_token=PW&state=1", "https://h/cb#access_token=****&state=1"),
        ("s3://b/k?X-Amz-Security-Token=PW", "s3://b/k?X-Amz-Security-Token=****"),
        ("error: GET 'http://u:PW@h/x' failed", "error: GET 'http://u:****@h/x' failed"),
        ("<code>http://u:PW@h/x</code>", "<code>http://u:****@h/x</code>"),
        ("two http://a:PW@h and https://b:PW@k", "two http://a:****@h and https://b:****@k"),
    ],
)
def test_secrets_are_hidden(text, expected):
    shown = redact_url(text)
    assert "PW" not in shown and "p/w" not in shown and "p@w" not in shown
    if expected is not None:
        assert shown == expected


@pytest.mark.parametrize(
    "text",
    [
        "http://127.0.0.1:8042/dicom-web",
        "http://[::1]:8042/dicom-web/studies/1.2@3",
        "https://h/dicom-web/studies?PatientID=7765*&limit=5&offset=0",
        "duckdb:///home/u:x@y/lab.duckdb",  # a path, not an authority
        "gs://bucket/cohorts/lung.txt",
        "bq://example.com:project.dataset",
        "not a url: alice:PW@host",
        "",
    ],
)
def test_everything_else_is_left_alone(text):
    assert redact_url(text) == text


def test_redact_values_walks_records():
    record = {"store": "http://u:PW@h", "n": [1, ("gs://b/x", "https://h/?key=PW")], "ok": None}
    assert redact_values(record) == {
        "store": "http://u:****@h",
        "n": [1, ("gs://b/x", "https://h/?key=****")],
        "ok": None,
    }


def test_every_dicomlab_error_redacts_its_message_and_value():
    for error in (
        DicomlabError("store http://u:PW@h failed"),
        InvalidIdentifierError("bad http://u:PW@h", value="http://u:PW@h"),
        RemoteError("GET http://u:PW@h failed", service="DICOMweb", resource="http://u:PW@h"),
    ):
        seen = [str(error), repr(error), repr(vars(error))]
        assert not [s for s in seen if "PW" in s], seen
        assert "http://u:****@h" in str(error)


def test_safe_cause_drops_a_cause_that_would_show_a_secret():
    try:
        try:
            raise ConnectionError("GET http://u:PW@h/x refused")
        except ConnectionError as inner:
            raise RemoteError("failed", service="DICOMweb") from safe_cause(inner)
    except RemoteError as exc:
        printed = "".join(traceback.format_exception(exc))
    assert "PW" not in printed and "refused" not in printed
    kept = ValueError("nothing secret")
    assert safe_cause(kept) is kept
    nested = ValueError("outer")
    nested.__context__ = ValueError("http://u:PW@h")
    assert safe_cause(nested) is None  # a secret anywhere in the chain counts
    noted = ValueError("outer")
    noted.__notes__ = ["retrying http://u:PW@h"]  # what add_note() stores, printed too
    assert safe_cause(noted) is None
