"""Start and stop a throwaway Orthanc (with its DICOMweb plugin) for tests.

The server listens on a free port, answers only loopback clients
(``RemoteAccessAllowed: false``) and keeps its storage in a temporary folder.

>>> server = OrthancServer.start(Path("/tmp/orthanc-test"))   # doctest: +SKIP
>>> server.dicomweb_url                                      # doctest: +SKIP
'http://127.0.0.1:41234/dicom-web'
>>> server.stop()                                            # doctest: +SKIP
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support import servers

__all__ = ["ORTHANC_BINARY", "ORTHANC_DICOMWEB_PLUGIN", "OrthancServer", "missing_reason"]

ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
ORTHANC_DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
READY_TIMEOUT = 20.0
LOG_NAME = "orthanc.log"  # in the server's folder: Orthanc logs to stderr without --logdir


def missing_reason() -> str | None:
    """Why Orthanc cannot run here, or ``None`` when it can."""
    for path, package in (
        (ORTHANC_BINARY, "orthanc"),
        (ORTHANC_DICOMWEB_PLUGIN, "orthanc-dicomweb"),
    ):
        if not path.exists():
            return (
                f"{path} is missing: install Debian's {package} "
                "(`make test` does so when run as root)"
            )
    return None


def write_config(folder: Path, port: int, users: dict[str, str] | None = None) -> Path:
    """A throwaway Orthanc configuration with DICOMweb enabled; returns its path.

    With ``users`` (name to password), every request needs HTTP Basic authentication.
    """
    config: dict[str, object] = {
        "Name": "dicomlab-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,
        "OrthancExplorerEnabled": False,
        "Plugins": [str(ORTHANC_DICOMWEB_PLUGIN)],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "StudiesMetadata": "Full",
            "SeriesMetadata": "Full",
        },
    }
    if users:
        config.update(AuthenticationEnabled=True, RegisteredUsers=users)
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config, indent=2))
    return path


@dataclass
class OrthancServer:
    """A running Orthanc process and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    users: dict[str, str] | None = None

    @property
    def url(self) -> str:
        """The REST API root, e.g. ``http://127.0.0.1:8042``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb base URL."""
        return f"{self.url}/dicom-web"

    @classmethod
    def start(cls, folder: Path, users: dict[str, str] | None = None) -> OrthancServer:
        """Start Orthanc with its state in ``folder`` and wait until it answers.

        With ``users`` it answers only requests with their HTTP Basic credentials.
        """
        folder.mkdir(parents=True, exist_ok=True)
        port = servers.free_port()
        config = write_config(folder, port, users)
        command = [str(ORTHANC_BINARY), str(config)]
        process = servers.start_process(command, folder / LOG_NAME)
        return servers.ready_or_stopped(cls(process, port, folder, users))

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll ``GET /system`` until it answers 200 (or the process dies)."""
        probe, log = f"{self.url}/system", self.folder / LOG_NAME
        headers = None
        if self.users:
            user, password = next(iter(self.users.items()))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"}
        servers.wait_ready(
            self.process, probe, name="Orthanc", log=log, timeout=timeout, headers=headers
        )

    def stop(self) -> None:
        """SIGTERM the process and wait for it (SIGKILL if it does not exit)."""
        servers.stop_process(self.process)
