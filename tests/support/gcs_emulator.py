"""Start and stop a throwaway gcp-storage-emulator, and reach it with the real client.

The emulator listens on a free loopback port, keeps its objects in memory and
creates one bucket at start. Clients are built explicitly (an ``api_endpoint``
and anonymous credentials), so no test changes the process environment.

The emulator ignores the ``ifGenerationMatch`` precondition (it replaces the
object anyway), so :class:`PreconditionSession`, the HTTP session handed to the
client, answers ``412`` itself as Cloud Storage would. It also records every
request and can answer chosen ones with an error status.

>>> server = StorageEmulator.start(Path("/tmp/gcs-test"))   # doctest: +SKIP
>>> client = server.client()                               # doctest: +SKIP
>>> server.stop()                                          # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import requests

from tests.support import servers

__all__ = ["DEFAULT_BUCKET", "PreconditionSession", "StorageEmulator", "missing_reason"]

DEFAULT_BUCKET = "dicomlab-test"
READY_TIMEOUT = 20.0
LOG_NAME = "emulator.log"  # in the server's folder


def missing_reason() -> str | None:
    """Why the emulator tests cannot run here, or ``None`` when they can."""
    for module, package in (
        ("gcp_storage_emulator", "gcp-storage-emulator"),
        ("google.cloud.storage", "google-cloud-storage"),
    ):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{package} is not installed: pip install -e '.[test]'"
    return None


class PreconditionSession(requests.Session):
    """A ``requests`` session that enforces ``ifGenerationMatch`` on uploads.

    Before an upload that carries the precondition, it asks the emulator for
    the object's generation and answers ``412 Precondition Failed`` when they
    disagree (``0`` means "must not exist"). ``sent`` lists ``(method, url)``
    of every request; ``faults`` maps a substring of a URL or of an uploaded
    object's name to a status to answer instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []
        self.faults: dict[str, int] = {}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        method, url = _text(method), _text(url)
        self.sent.append((method, url))
        upload = method == "POST" and "/upload/storage/v1/b/" in url
        name = _upload_name(url, kwargs) if upload else ""
        for marker, status in self.faults.items():
            if marker in url or marker in name:
                return _error_response(method, url, status, "injected by the test")
        wanted = parse_qs(urlsplit(url).query).get("ifGenerationMatch")
        if upload and wanted:
            current = self._generation(url, name)
            if current != wanted[0]:
                return _error_response(method, url, 412, "At least one of the pre-conditions …")
        return super().request(method, url, *args, **kwargs)

    def _generation(self, upload_url: str, name: str) -> str:
        """The live generation of object ``name`` (``"0"`` when there is none)."""
        parts = urlsplit(upload_url)
        bucket = parts.path.split("/b/", 1)[1].split("/", 1)[0]
        meta = f"{parts.scheme}://{parts.netloc}/storage/v1/b/{bucket}/o/{quote(name, safe='')}"
        answer = super().request("GET", meta, timeout=10)
        return str(answer.json()["generation"]) if answer.status_code == 200 else "0"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _upload_name(url: str, kwargs: dict[str, Any]) -> str:
    """The object name of a media, multipart or resumable-start upload request."""
    names = parse_qs(urlsplit(url).query).get("name")
    if names:
        return names[0]
    body = kwargs.get("data") or b""
    body = body.encode() if isinstance(body, str) else body
    if body.startswith(b"--"):  # multipart/related: the JSON metadata is the first part
        body = body.partition(b"\r\n\r\n")[2].split(b"\r\n--", 1)[0]
    return str(json.loads(body)["name"])


def _error_response(method: str, url: str, status: int, message: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = url
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps({"error": {"code": status, "message": message}}).encode()
    response.request = requests.Request(method, url).prepare()
    return response


@dataclass
class StorageEmulator:
    """A running gcp-storage-emulator process and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    bucket: str = DEFAULT_BUCKET

    @property
    def url(self) -> str:
        """The endpoint, e.g. ``http://127.0.0.1:41234`` (the ``STORAGE_EMULATOR_HOST`` value)."""
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, folder: Path, bucket: str = DEFAULT_BUCKET) -> StorageEmulator:
        """Start the emulator with bucket ``bucket`` and wait until it answers."""
        folder.mkdir(parents=True, exist_ok=True)
        port = servers.free_port()
        command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host=127.0.0.1"]
        command += [f"--port={port}", "--in-memory", f"--default-bucket={bucket}", "--quiet"]
        process = servers.start_process(command, folder / LOG_NAME, cwd=folder)
        return servers.ready_or_stopped(cls(process, port, folder, bucket))

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll the default bucket's metadata until it answers 200 (or the process dies)."""
        probe, log = f"{self.url}/storage/v1/b/{self.bucket}", self.folder / LOG_NAME
        name = "gcp-storage-emulator"
        servers.wait_ready(self.process, probe, name=name, log=log, timeout=timeout)

    def client(self, session: requests.Session | None = None) -> Any:
        """A ``google.cloud.storage.Client`` for this emulator (anonymous, no project)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.storage import Client

        return Client(
            project="dicomlab-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.url},
            _http=session if session is not None else PreconditionSession(),
        )

    def stop(self) -> None:
        """SIGTERM the process and wait for it (SIGKILL if it does not exit)."""
        servers.stop_process(self.process)
