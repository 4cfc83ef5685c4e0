"""JupyterLab on the notebooks (``make lab``), and a throw-away server for the UI test.

Both bind 127.0.0.1, start kernels with encrypted transport (:mod:`companion.execution.kernel`), never fetch
news or update checks (the companion works offline), and use the project's kernel, ``python3`` of this
environment, which the notebooks name in their metadata: they open with no "kernel not found" prompt.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..io import write_json_atomic
from .kernel import server_options

OFFLINE = ["--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]


# A throw-away server asks no questions: no "Would you like to get notified about Jupyter news?" toast.
QUIET_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}


def lab_command(root_dir, *, port: int | None = None, token: str | None = None, browser: bool = True) -> list[str]:
    """The ``python -m jupyterlab`` command line serving ``root_dir`` on 127.0.0.1."""
    cmd = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--ServerApp.root_dir={root_dir}",
           *server_options(), *OFFLINE]
    if port is not None:
        cmd += [f"--port={port}", "--ServerApp.port_retries=0"]
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if not browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI and containers run as root; Jupyter refuses without this
        cmd.append("--allow-root")
    return cmd


def lab_environment(base: dict | None = None) -> dict:
    """The environment for JupyterLab, pointed at the installation's files where this Python's prefix lacks them.

    A virtual environment that borrows its packages from another (``.pth`` files, as the developers' light
    venvs do) has no ``share/jupyter`` or ``etc/jupyter`` of its own: JupyterLab's assets and the server
    extensions' enabling files are under the prefix that holds the ``jupyterlab`` package.
    """
    env = dict(os.environ if base is None else base)
    if (Path(sys.prefix) / "share" / "jupyter" / "lab" / "static").is_dir():
        return env
    import jupyterlab

    prefix = Path(jupyterlab.__file__).resolve().parents[4]  # <prefix>/lib/pythonX.Y/site-packages/jupyterlab
    if (prefix / "share" / "jupyter" / "lab" / "static").is_dir():
        env.setdefault("JUPYTERLAB_DIR", str(prefix / "share" / "jupyter" / "lab"))
        for var, folder in (("JUPYTER_PATH", prefix / "share" / "jupyter"),
                            ("JUPYTER_CONFIG_PATH", prefix / "etc" / "jupyter")):
            env[var] = os.pathsep.join(p for p in (env.get(var), str(folder)) if p)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, token: str, method: str = "GET", timeout: float = 5.0):
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
        return json.loads(body) if body else None


@contextlib.contextmanager
def lab_server(root_dir, *, startup_timeout: float = 120.0):
    """Start JupyterLab on ``root_dir`` with a random token; yield ``(base_url, token, log)``; always stop it.

    ``log`` is the server's output file (kernels' messages included), readable until the block ends.

    Config, data, runtime, settings and workspace folders are fresh temporary ones, so the test neither
    reads nor writes the user's Jupyter state. Stopping asks the server to shut down (its kernels with it),
    then terminates and finally kills it if it lingers.
    """
    port, token = free_port(), os.urandom(16).hex()
    with tempfile.TemporaryDirectory(prefix="companion-lab-") as tmp:
        env = lab_environment()
        for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                         ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipython")):
            env[var] = str(Path(tmp) / sub)
        settings = Path(tmp) / "settings"
        write_json_atomic(QUIET_SETTINGS, settings / "@jupyterlab" / "apputils-extension" /
                          "notification.jupyterlab-settings")
        cmd = lab_command(root_dir, port=port, token=token, browser=False) + [
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={Path(tmp) / 'ws'}"]
        with open(Path(tmp) / "server.log", "wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            base = f"http://127.0.0.1:{port}/"
            try:
                deadline = time.monotonic() + startup_timeout
                while True:
                    try:
                        _api(base + "api/status", token)
                        break
                    except (urllib.error.URLError, ConnectionError, OSError):
                        if proc.poll() is not None or time.monotonic() > deadline:
                            log.flush()
                            raise RuntimeError("JupyterLab did not start:\n" +
                                               (Path(tmp) / "server.log").read_text(errors="replace")[-3000:])
                        time.sleep(0.3)
                yield base, token, Path(tmp) / "server.log"
            finally:
                _stop(proc, base, token)


def _stop(proc: subprocess.Popen, base: str, token: str) -> None:
    if proc.poll() is None:
        with contextlib.suppress(Exception):
            _api(base + "api/shutdown", token, method="POST")
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
