"""The settings of every Jupyter kernel the companion starts: papermill runs, ``make notebooks``, JupyterLab.

ipykernel ≥ 7.4 warns on every start "Kernel is running over TCP without encryption" unless the kernel
manager hands it CurveZMQ keys. jupyter_client ≥ 8.10 can: ``KernelManager.transport_encryption = "auto"``
provisions a key pair whenever the kernelspec declares ``"supported_encryption": ["curve"]`` (ipykernel's
``python3`` spec does), so the kernel's sockets are encrypted and the warning has no cause left. A kernelspec
that declares no support starts as before (and ipykernel still warns, rightly).
"""
from __future__ import annotations

KERNEL = "python3"
TRANSPORT_ENCRYPTION = "auto"


def kernel_config():
    """A traitlets ``Config`` for the kernel managers that nbclient (under papermill) creates."""
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport_encryption = TRANSPORT_ENCRYPTION
    return config


def server_options() -> list[str]:
    """The same setting as command-line options of a Jupyter server (``make lab``)."""
    return [f"--KernelManager.transport_encryption={TRANSPORT_ENCRYPTION}"]


def execute(notebook, output, *, parameters: dict | None = None, cwd=None, **options):
    """``papermill.execute_notebook`` with the companion's kernel (``python3``, encrypted transport), no tqdm bar.

    ``options`` go to papermill and on to nbclient's ``NotebookClient`` (for instance ``on_cell_start=``).
    Returns the executed notebook; raises ``papermill.PapermillExecutionError`` when a cell fails (the partial
    notebook is then at ``output``).
    """
    import papermill as pm

    return pm.execute_notebook(str(notebook), str(output), parameters=parameters or None,
                               cwd=None if cwd is None else str(cwd), kernel_name=KERNEL, progress_bar=False,
                               config=kernel_config(), **options)
