"""Kernels start with encrypted transport, so ipykernel's "running over TCP without encryption" warning has
no cause: not in make run, make notebooks, the smoke tests, the benchmarks or a sweep."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat

from companion.sweep.executors import run_point

WARNING = "without encryption"
PROBE = ("import json, ipykernel.connect as c\n"
         "print('transport:', 'curve' if 'curve_secretkey' in json.loads(c.get_connection_info()) else 'plain')")


def probe_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('X = 1\nRESULTS_PATH = "rows.json"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(PROBE),
                nbformat.v4.new_code_cell("import json\njson.dump([{'x': X}], open(RESULTS_PATH, 'w'))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def transport(path: Path) -> str:
    text = "".join(o.get("text", "") for c in nbformat.read(path, as_version=4).cells for o in c.get("outputs", []))
    return text.split("transport:")[1].split()[0]


def run(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter: the kernel's own stderr is the child's, captured whole."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)


def test_plain_papermill_warns_and_ours_is_encrypted_and_quiet(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb")
    plain = run(f"import papermill as pm; pm.execute_notebook({str(nb)!r}, {str(tmp_path / 'plain.ipynb')!r}, "
                f"kernel_name='python3', progress_bar=False, cwd={str(tmp_path)!r})")
    assert transport(tmp_path / "plain.ipynb") == "plain"
    assert WARNING in plain.stderr, "the control run shows the warning (so the check below can see it)"
    ours = run(f"from companion.execution import execute; "
               f"execute({str(nb)!r}, {str(tmp_path / 'ours.ipynb')!r}, cwd={str(tmp_path)!r})")
    assert transport(tmp_path / "ours.ipynb") == "curve"
    assert WARNING not in ours.stderr and "WARNING" not in ours.stderr, ours.stderr
    assert ours.stdout == "", "no noise on stdout either"


def test_a_sweep_point_runs_encrypted_and_its_log_is_quiet(tmp_path):
    nb = probe_notebook(tmp_path / "probe.ipynb")
    status = run_point({"id": "X=2", "params": {"X": 2}, "notebook": str(nb), "dir": str(tmp_path / "pt"),
                                   "timeout": 300, "env": {}})
    assert status["status"] == "done", status
    assert transport(tmp_path / "pt" / "probe.ipynb") == "curve"
    log = (tmp_path / "pt" / "papermill.log").read_text()
    assert WARNING not in log, log
    assert json.loads((tmp_path / "pt" / "point.json").read_text())["params"] == {"X": 2}
