"""make lab's command line: 127.0.0.1, encrypted kernels, offline, the notebooks folder."""
import sys
from pathlib import Path

from companion.execution import lab_command, lab_environment


def test_lab_command_binds_loopback_serves_the_folder_and_stays_offline(tmp_path):
    cmd = lab_command(tmp_path, port=8899, token="t0k", browser=False)
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ip=127.0.0.1" in cmd and f"--ServerApp.root_dir={tmp_path}" in cmd and "--no-browser" in cmd
    assert "--KernelManager.transport_encryption=auto" in cmd
    assert "--LabApp.news_url=None" in cmd and any("NeverCheckForUpdate" in c for c in cmd)
    assert "--port=8899" in cmd and "--IdentityProvider.token=t0k" in cmd
    assert "--no-browser" not in lab_command(tmp_path)


def test_lab_environment_finds_jupyterlab_assets_and_keeps_the_users_choice():
    env = lab_environment({})
    app_dir = Path(env.get("JUPYTERLAB_DIR", Path(sys.prefix) / "share" / "jupyter" / "lab"))
    assert (app_dir / "static").is_dir(), f"no JupyterLab assets at {app_dir}"
    if "JUPYTERLAB_DIR" in env:  # a borrowed installation: its server extensions' enabling files come along
        assert (Path(env["JUPYTER_CONFIG_PATH"]) / "jupyter_server_config.d").is_dir()
    assert lab_environment({"JUPYTERLAB_DIR": "/x"}).get("JUPYTERLAB_DIR", "/x") == "/x"
