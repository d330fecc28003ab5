"""Start and stop a throwaway JupyterLab on a folder of notebooks, for the browser tests.

Like :class:`~tests.support.voila_server.VoilaServer`: a free port of 127.0.0.1,
no token, and every Jupyter folder, the kernels' files and ``DICOMLAB_HOME`` in
one temporary folder. The notebooks are served from a copy, so JupyterLab's
autosave never touches the repository's files.

>>> server = LabServer.start(Path("notebooks"), Path("/tmp/lab-test"))   # doctest: +SKIP
>>> server.notebook_url("01_quickstart.ipynb")                          # doctest: +SKIP
'http://127.0.0.1:41234/lab/tree/01_quickstart.ipynb?reset'
>>> server.stop()                                                       # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support import servers
from tests.support.voila_server import VoilaServer, missing_reason, private_environment

__all__ = ["LabServer", "lab_missing_reason"]

READY_TIMEOUT = 60.0
_SETTINGS = {
    # The news and update checks would ask the internet and show a toast over the page.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # Every cell in the DOM and drawn, so outputs below the fold can be checked.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def lab_missing_reason() -> str | None:
    """Why the JupyterLab browser tests cannot run here, or ``None`` when they can."""
    if importlib.util.find_spec("jupyterlab") is None:
        return "the Python package jupyterlab is missing: pip install -e '.[test]'"
    return missing_reason()


def _write_settings(config: Path) -> None:
    for name, values in _SETTINGS.items():
        path = config / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@dataclass
class LabServer(VoilaServer):
    """A running JupyterLab serving a copy of a notebook folder."""

    @property
    def root(self) -> Path:
        """The folder JupyterLab serves (a copy of the notebooks)."""
        return self.folder / "notebooks"

    def notebook_url(self, name: str) -> str:
        """The page that opens notebook ``name`` alone (``reset``: no tab of an earlier page)."""
        return f"{self.url}lab/tree/{name}?reset"

    @classmethod
    def start(cls, notebooks: Path, folder: Path) -> LabServer:  # type: ignore[override]
        """Serve a copy of the ``.ipynb`` files of ``notebooks``; wait until JupyterLab answers."""
        folder.mkdir(parents=True, exist_ok=True)
        root = folder / "notebooks"
        root.mkdir(exist_ok=True)
        for notebook in notebooks.glob("*.ipynb"):
            shutil.copyfile(notebook, root / notebook.name)
        env = private_environment(folder)
        _write_settings(Path(env["JUPYTER_CONFIG_DIR"]))
        port = servers.free_port()
        log_path = folder / "jupyterlab.log"
        process = servers.start_process(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--allow-root",  # the tests run as root on CI
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                "--IdentityProvider.token=",
                "--ServerApp.disable_check_xsrf=True",
                f"--ServerApp.root_dir={root}",
                "--LabApp.news_url=",
            ],
            log_path,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return servers.ready_or_stopped(cls(process, port, folder, log_path))

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll the REST API's status (no kernel starts) until it answers 200."""
        probe, log = f"{self.url}api/status", self.log_path
        servers.wait_ready(
            self.process, probe, name="JupyterLab", log=log, timeout=timeout, interval=0.2
        )
