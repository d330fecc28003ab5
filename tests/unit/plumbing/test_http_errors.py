"""One translation of requests failures, with the hooks of each service."""

from __future__ import annotations

import pytest
import requests

from dicomlab.errors import NotFoundError, RemoteError, ServerDownError
from dicomlab.plumbing.http_errors import ErrorHook, translated
from dicomlab.stores.dicomweb_errors import translated as dicomweb_translated
from dicomlab.stores.transport import CircuitOpen


def _http_error(status: int, body: bytes) -> requests.HTTPError:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.url = "http://server.invalid/studies"
    return requests.HTTPError(f"{status} error", response=response)


def test_an_http_error_names_service_resource_status_and_the_body():
    with pytest.raises(RemoteError) as info, translated("studies/1.2", ErrorHook("Svc")):
        raise _http_error(503, b"  busy, try later ")
    error = info.value
    assert (error.service, error.resource, error.status) == ("Svc", "studies/1.2", 503)
    assert str(error) == "Svc request for studies/1.2 failed with HTTP 503: busy, try later"


def test_a_404_is_not_found_with_the_hooks_message():
    hook = ErrorHook(
        "Svc", not_found=lambda resource, service, detail: f"no {resource} at {service}"
    )
    with pytest.raises(NotFoundError, match="no studies/9 at Svc"), translated("studies/9", hook):
        raise _http_error(404, b"")


def test_the_hooks_describe_and_redact_every_message():
    hook = ErrorHook(
        "Svc",
        describe=lambda response, exc: (
            " DENIED",
            f"token abc123 refused ({response.status_code})",
        ),
        redact=lambda text: text.replace("abc123", "[redacted]"),
    )
    with pytest.raises(RemoteError) as info, translated("x", hook):
        raise _http_error(403, b"")
    assert (
        str(info.value)
        == "Svc request for x failed with HTTP 403 DENIED: token [redacted] refused (403)"
    )
    with (
        pytest.raises(RemoteError, match=r"failed: ConnectionError: \[redacted\]"),
        translated("x", hook),
    ):
        raise requests.ConnectionError("abc123")


def test_other_exceptions_pass_unless_the_hook_knows_them():
    with pytest.raises(KeyError), translated("x", ErrorHook("Svc")):
        raise KeyError("not ours")
    hook = ErrorHook(
        "Svc", specific=lambda exc, resource: RemoteError(f"{resource}: {exc}", service="Svc")
    )
    with pytest.raises(RemoteError, match="x: 'known'") as info, translated("x", hook):
        raise KeyError("known")
    assert isinstance(info.value.__cause__, KeyError)


def test_a_cause_holding_a_credential_is_not_chained():
    with pytest.raises(RemoteError) as info, dicomweb_translated("studies"):
        raise requests.ConnectionError("GET http://user:s3cret@host/dicom-web failed")
    assert info.value.__cause__ is None and "s3cret" not in str(info.value)


def test_the_dicomweb_hook_says_a_server_is_down_and_when_to_retry():
    import time

    with pytest.raises(ServerDownError) as info, dicomweb_translated("studies"):
        raise CircuitOpen("failed 3 times in a row", retry_at=time.monotonic() + 30)
    assert info.value.resource == "studies" and info.value.retry_at is not None
    assert "failed 3 times in a row; nothing more is sent to it for" in str(info.value)
    bad_body = pytest.raises(RemoteError, match="could not be read: ValueError: bad part")
    with bad_body, dicomweb_translated("studies"):
        raise ValueError("bad part")
