"""The sweep command line: bad input is a clear error and runs nothing."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from companion.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


NB_DIR = ROOT / "tests" / "sweep" / "fixtures"


TINY = NB_DIR / "sweep_tiny.ipynb"


NO_PARAMS = NB_DIR / "sweep_no_parameters.ipynb"


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
       "TQDM_DISABLE": "1"}


@pytest.mark.parametrize("args, message", [
    (["-p", "Z", "1"], r"unknown parameter 'Z': sweep_tiny.ipynb's parameters cell defines X, Y, NAME, SEED"),
    (["-p", "Y", "0.5", "abc"], r"parameter Y expects float \(its default is 0.5\), got str 'abc'"),
    (["-p", "X", "1", "-p", "X", "2"], "parameter X given twice"),
    (["-p", "X", "1", "--seeds", "0"], "--seeds must be >= 1"),
])
def test_cli_bad_parameters_are_clear_errors_and_run_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["sweep", str(TINY), *args, "--out", str(out)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("notebook, message", [
    ("missing.ipynb", "no such notebook"),
    (str(NO_PARAMS), "has no cell tagged 'parameters'"),
])
def test_cli_bad_notebooks_are_clear_errors_and_run_nothing(tmp_path, capsys, notebook, message):
    out = tmp_path / "out"
    assert main(["sweep", notebook, "-p", "X", "1", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_grid_file_is_checked_like_parameters(tmp_path, capsys):
    (tmp_path / "g.yaml").write_text("X: [1, 2]\nY: [1e-3]\n")  # YAML 1.1 reads 1e-3 as a string
    out = tmp_path / "out"
    assert main(["sweep", str(TINY), "--grid", str(tmp_path / "g.yaml"), "--out", str(out)]) == 2
    assert "parameter Y expects float" in capsys.readouterr().err and not out.exists()


def test_cli_refuses_a_dir_in_use_or_of_another_notebook(tmp_path, capsys):
    from companion.sweep.engine import _lock

    out = tmp_path / "out"
    out.mkdir()
    lock = _lock(out)  # as if another sweep were running there
    try:
        assert main(["sweep", str(TINY), "-p", "X", "1", "--out", str(out)]) == 2
    finally:
        lock.close()
    assert "another sweep is running in" in capsys.readouterr().err
    (out / "sweep.json").write_text(json.dumps({"notebook": "/x/02_pruning.ipynb"}))
    assert main(["sweep", str(TINY), "-p", "X", "1", "--out", str(out)]) == 2
    assert "holds a sweep of /x/02_pruning.ipynb" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["sweep.json", "sweep.lock"]  # nothing ran


@pytest.mark.parametrize("via", ["--scheduler", "DASK_SCHEDULER_ADDRESS"])
def test_cli_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch, via):
    import dask
    import distributed  # noqa: F401  (its config defaults must exist before dask.config.set, or leaving it drops them)

    out = tmp_path / "out"
    args = ["--scheduler", "tcp://127.0.0.1:9"] if via == "--scheduler" else []
    if via != "--scheduler":
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code = main(["sweep", str(TINY), "-p", "X", "1", "--out", str(out), *args])
    assert code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not out.exists()
