"""Start and stop a throwaway Voilà server on one notebook, for the browser test.

The server listens on a free port of 127.0.0.1 and keeps all of its state (the
Jupyter config, data and runtime folders, IPython's folder, the kernels'
connection files and the notebook's ``DICOMLAB_HOME``) in one temporary folder,
so it neither reads nor writes the user's own Jupyter set-up.

>>> server = VoilaServer.start(Path("notebooks/04_image_browser.ipynb"),
...                            Path("/tmp/voila-test"))              # doctest: +SKIP
>>> server.url                                                       # doctest: +SKIP
'http://127.0.0.1:41234/'
>>> server.stop()                                                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import servers

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "VoilaServer", "missing_reason"]

#: Debian's Chromium; the test never downloads a browser build of its own.
CHROMIUM = Path("/usr/bin/chromium")
#: Headless-friendly switches; the last one keeps every host name but 127.0.0.1 unresolvable.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
READY_TIMEOUT = 30.0
START_ATTEMPTS = 3


def missing_reason() -> str | None:
    """Why the browser test cannot run here, or ``None`` when it can."""
    for module, package in (("voila", "voila"), ("playwright", "playwright")):
        if importlib.util.find_spec(module) is None:
            return (
                f"the Python package {package} is missing: "
                "pip install -e '.[test]' (`make test` does so)"
            )
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"{CHROMIUM} is missing: install Debian's chromium "
            "(`make test` does so when run as root); `playwright install` is not used"
        )
    return None


def private_environment(folder: Path) -> dict[str, str]:
    """The server's environment: ours, with every Jupyter and dicomlab folder in ``folder``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_PREFER_ENV_PATH")
    }
    for variable, name in (
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
        ("DICOMLAB_HOME", "dicomlab-home"),
        ("TMPDIR", "tmp"),  # Voilà keeps the kernels' connection files there
    ):
        path = folder / name
        path.mkdir(parents=True, exist_ok=True)
        env[variable] = str(path)
    env["MPLBACKEND"] = "Agg"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # quiets a debugger warning in the kernel log
    return env


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (Linux ``/proc``; empty elsewhere)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(stat.parent.name))
    return found


@dataclass
class VoilaServer:
    """A running Voilà process serving one notebook, and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path
    log_path: Path
    kernels: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The notebook's page, e.g. ``http://127.0.0.1:41234/``."""
        return f"http://127.0.0.1:{self.port}/"

    @classmethod
    def start(cls, notebook: Path, folder: Path) -> VoilaServer:
        """Serve ``notebook`` with its state in ``folder`` and wait until the server answers.

        A port taken between choosing and binding it is retried on another one
        (Voilà is told not to wander to a neighbouring port on its own).
        """
        folder.mkdir(parents=True, exist_ok=True)
        env = private_environment(folder)
        for attempt in range(1, START_ATTEMPTS + 1):
            port = servers.free_port()
            log_path = folder / f"voila-{attempt}.log"
            process = servers.start_process(
                [
                    sys.executable,
                    "-m",
                    "voila",
                    str(notebook.resolve()),
                    "--no-browser",
                    "--Voila.ip=127.0.0.1",
                    f"--Voila.port={port}",
                    "--Voila.port_retries=0",
                    "--show_tracebacks=True",
                ],
                log_path,
                cwd=notebook.resolve().parent,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C at the terminal reaches pytest only
            )
            server = cls(process, port, folder, log_path)
            try:
                return servers.ready_or_stopped(server)
            except BaseException:
                if attempt < START_ATTEMPTS and "already in use" in server.log():
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def log(self) -> str:
        """What the server (and its kernels) printed so far."""
        return servers.read_log(self.log_path)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll a static file (cheap: no kernel starts) until it answers 200."""
        probe, log = f"{self.url}voila/static/voila.js", self.log_path
        servers.wait_ready(
            self.process, probe, name="Voilà", log=log, timeout=timeout, interval=0.1
        )

    def stop(self) -> None:
        """Stop the server and the kernels it started.

        SIGTERM lets Voilà shut its kernels down (a few seconds); SIGKILL follows
        for the server, and for any of its kernels still running, if it does not.
        """
        if self.process.poll() is None:
            self.kernels.update(_children(self.process.pid))
        servers.stop_process(self.process)
        for pid in self.kernels:
            if self._is_our_kernel(pid):  # not gone (the usual case), nor a reused pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _is_our_kernel(self, pid: int) -> bool:
        """Whether ``pid`` still runs a kernel of ours (its connection file is in our folder)."""
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return str(self.folder) in command
