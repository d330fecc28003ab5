"""A scripted DICOMweb server: each test says what it answers, by path, and sees what was asked.

One :class:`ScriptedServer` serves a session; a test hands it a :class:`Script`
through :func:`scripted`, which returns a store that talks to it without
retries, so a failure shows at the first request.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from dicomlab.stores.dicomweb import DICOMwebStore
from tests.support.servers import LocalHTTPServer

__all__ = ["Reply", "Script", "ScriptedServer", "scripted"]


@dataclass
class Reply:
    """One answer: a status and body, after ``delay`` seconds, or a dropped connection."""

    status: int = 200
    body: bytes = b"[]"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: str | None = None  # "reset" (RST) or "close" (FIN), without any answer
    content_type: str = "application/dicom+json"


@dataclass
class Script:
    """Replies by path suffix (``/series``, ``/metadata``…); requests are recorded."""

    routes: dict[str, Reply] = field(default_factory=dict)
    default: Reply = field(default_factory=Reply)
    requests: list[str] = field(default_factory=list)

    def reply(self, path: str) -> Reply:
        self.requests.append(path)
        route = path.partition("?")[0]
        found = next((r for suffix, r in self.routes.items() if route.endswith(suffix)), None)
        reply = found or self.default
        offset = int(path.partition("offset=")[2].partition("&")[0] or 0)
        if offset and reply.status == 200:
            return Reply()  # a server that honours offset: the next page is empty
        return reply


class ScriptedServer:
    """A DICOMweb server on 127.0.0.1 that answers as its current ``script`` says."""

    def __init__(self) -> None:
        self.script = Script()
        self._http = LocalHTTPServer(self._handler())

    @property
    def url(self) -> str:
        """The DICOMweb base URL (``http://127.0.0.1:PORT/dicom-web``)."""
        return f"{self._http.url}/dicom-web"

    def start(self) -> ScriptedServer:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                reply = server.script.reply(self.path)
                if reply.drop == "reset":
                    linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
                    return
                if reply.drop == "close":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client timed out and left

            do_GET = do_POST = do_DELETE = answer

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def scripted(server: ScriptedServer, script: Script) -> DICOMwebStore:
    """A store on ``server``, which now answers as ``script`` says (one attempt, short timeouts)."""
    server.script = script
    return DICOMwebStore(
        server.url, max_attempts=1, backoff=0.001, timeout=(1, 0.3), profile="generic"
    )
