"""Parameter sweeps (companion.sweep): grid parsing and checks, a real 2×2 sweep, failures, timeouts,
resume after Ctrl-C and after a kill, and a real Dask cluster on loopback with a worker killed mid-sweep.

The tests marked ``notebook`` execute the tiny notebook tests/notebooks/sweep_tiny.ipynb (seconds per point,
about a minute together on 2 idle cores) and run in ``make test`` like the others."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from companion.__main__ import main
from companion.sweep import (SweepError, build_grid, check_value, load_grid, notebook_parameters, parse_value,
                             point_id)
from companion.sweep_report import results_table, sweep_figure

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "tests" / "notebooks"
TINY = NB_DIR / "sweep_tiny.ipynb"
NO_PARAMS = NB_DIR / "sweep_no_parameters.ipynb"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
       "TQDM_DISABLE": "1"}


# ---------------------------------------------------------------- parsing and checks (nothing executed)

def test_parse_value_reads_python_literals():
    assert parse_value("0.5") == 0.5 and isinstance(parse_value("8"), int) and parse_value("True") is True
    assert parse_value('"cifar10"') == "cifar10" and parse_value("cifar10") == "cifar10"
    assert parse_value("[8, 4]") == [8, 4] and parse_value("-3") == -3 and math.isnan(parse_value("nan"))


def test_notebook_parameters_types_from_defaults_and_annotations(tmp_path):
    params = notebook_parameters(TINY)
    types = {n: p.type for n, p in params.items()}
    assert types == {"X": int, "Y": float, "NAME": str, "SEED": int, "SLEEP": float, "BUSY": float,
                     "FAIL_FLAG": str, "RESULTS_PATH": str}
    nb = _notebook(tmp_path / "a.ipynb", 'B: float = 1\nQ = "k=v"  # two = signs: papermill skips this line\n'
                                         'L = [8, 4]\nRESULTS_PATH = "r.json"')
    params = notebook_parameters(nb)
    assert params["B"].type is float and params["Q"].type is str and params["L"].type is list


def test_check_value_accepts_int_for_float_and_rejects_strings_for_numbers():
    params = notebook_parameters(TINY)
    y = check_value(params["Y"], 2)
    assert y == 2.0 and isinstance(y, float)
    with pytest.raises(SweepError, match=r"parameter Y expects float .* got str 'abc'"):
        check_value(params["Y"], "abc")
    with pytest.raises(SweepError, match="parameter X expects int"):
        check_value(params["X"], True)
    with pytest.raises(SweepError, match="parameter NAME expects str"):
        check_value(params["NAME"], 3)
    with pytest.raises(SweepError, match="cannot be passed"):
        check_value(params["NAME"], {1, 2})


def test_check_value_checks_list_elements(tmp_path):
    params = notebook_parameters(_notebook(tmp_path / "l.ipynb", 'S = [0.5, 0.9]\nRESULTS_PATH = "r.json"'))
    assert check_value(params["S"], (1, 0.5)) == [1.0, 0.5]
    with pytest.raises(SweepError, match="parameter S expects list"):
        check_value(params["S"], [0.5, "a"])


def test_build_grid_is_the_cartesian_product_in_order():
    params = notebook_parameters(TINY)
    grid = build_grid(params, {"X": [1, 2, 3], "Y": [0.5, 1, 1.0]}, seeds=2)
    assert len(grid) == 3 * 2 * 2  # 1 and 1.0 are one float value
    assert grid[0] == {"X": 1, "Y": 0.5, "SEED": 0} and grid[-1] == {"X": 3, "Y": 1.0, "SEED": 1}
    assert all(isinstance(p["Y"], float) for p in grid)
    with pytest.raises(SweepError, match="either --seeds or -p SEED"):
        build_grid(params, {"SEED": [0]}, seeds=2)
    with pytest.raises(SweepError, match="RESULTS_PATH cannot be swept"):
        build_grid(params, {"RESULTS_PATH": ["x.json"]})


def test_point_id_is_stable_readable_and_distinct():
    a = point_id({"X": 1, "Y": 0.5, "NAME": "a/b c"})
    assert a == point_id({"NAME": "a/b c", "Y": 0.5, "X": 1})
    assert a.startswith("NAME=a_b_c_X=1_Y=0.5-") and "/" not in a
    assert point_id({"X": 1}) != point_id({"X": 2}) != point_id({"X": "2"})
    assert point_id({"X": 1.0}) != point_id({"X": 1})  # values are normalised to the declared type first


def test_load_grid(tmp_path):
    (tmp_path / "g.yaml").write_text("X: [1, 2]\nNAME: b\n")
    assert load_grid(tmp_path / "g.yaml") == {"X": [1, 2], "NAME": ["b"]}
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SweepError, match="must map parameter names"):
        load_grid(tmp_path / "bad.yaml")


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
    from companion.sweep import _lock

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


def test_results_table_and_figure_from_finished_points(tmp_path):
    points = []
    for x in (1, 2):
        for seed in (0, 1):
            p = {"id": point_id({"X": x, "SEED": seed}), "params": {"X": x, "SEED": seed}}
            d = tmp_path / p["id"]
            d.mkdir()
            rows = [{"section": "t", "method": "m", "seed": seed, "accuracy": 0.1 * x + 0.02 * seed}]
            (d / "results.json").write_text(json.dumps(rows))
            if (x, seed) != (2, 1):  # an unfinished point: its rows must not appear
                (d / "done.json").write_text("{}")
            points.append(p)
    table = results_table(points, tmp_path)
    assert len(table) == 3 and list(table.columns[:3]) == ["point_id", "X", "SEED"]
    assert table[["X", "SEED"]].values.tolist() == [[1, 0], [1, 1], [2, 0]]
    fig = sweep_figure(table, "X", "accuracy", [], "SEED")
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [1, 2])
    np.testing.assert_allclose(line.get_ydata(), [0.11, 0.2])  # mean over seeds 0 and 1; one seed at X=2


# ---------------------------------------------------------------- real sweeps (marked notebook: seconds per point)

@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_sweep_2x2_grid_gives_one_row_per_point_with_parameter_columns(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", str(TINY), "-p", "X", "1", "2", "-p", "Y", "0.5", "2", "-p", "NAME", '"b"',
            "--workers", "2", "--out", str(out)]
    assert main(argv) == 0
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 4
    assert df[["X", "Y"]].values.tolist() == [[1, 0.5], [1, 2.0], [2, 0.5], [2, 2.0]]
    assert (df.NAME == "b").all() and (df.method == "tiny-b").all()
    assert (df.x_type == "int").all() and (df.y_type == "float").all()  # real numbers, not strings
    np.testing.assert_allclose(df.accuracy, 1 / (1 + df.X * df.Y))
    assert (df.x == df.X).all() and (df.y == df.Y).all()
    for param in ("X", "Y"):
        assert (out / "figures" / f"sweep_tiny_accuracy_vs_{param}.png").stat().st_size > 0
        assert (out / "figures" / f"sweep_tiny_accuracy_vs_{param}.pdf").stat().st_size > 0
    for pid in df.point_id:
        assert (out / pid / "sweep_tiny.ipynb").is_file() and not (out / pid / "sweep_tiny.partial.ipynb").exists()
    assert "4 done" in capsys.readouterr().out
    markers = {p: p.stat().st_mtime_ns for p in out.glob("*/done.json")}
    assert main(argv) == 0  # the same command again: nothing runs, nothing is repeated
    assert "0 to run" in capsys.readouterr().out and len(pd.read_csv(out / "results.csv")) == 4
    assert markers == {p: p.stat().st_mtime_ns for p in out.glob("*/done.json")}


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_failed_point_is_reported_and_run_again_on_resume(tmp_path, capsys):
    out, flag = tmp_path / "out", tmp_path / "fail-X{X}"
    (tmp_path / "fail-X2").touch()
    argv = ["sweep", str(TINY), "-p", "X", "1", "2", "-p", "FAIL_FLAG", str(flag), "--workers", "2", "--out", str(out)]
    assert main(argv) == 1
    text = capsys.readouterr().out
    bad = point_id({"X": 2, "FAIL_FLAG": str(flag)})
    assert f"FAILED {bad}: RuntimeError: asked to fail (X=2" in text
    partial = out / bad / "sweep_tiny.partial.ipynb"
    assert f"partial notebook: {partial}" in text and partial.is_file()
    assert pd.read_csv(out / "results.csv").X.tolist() == [1]
    (tmp_path / "fail-X2").unlink()
    assert main(argv) == 0
    assert "1 already finished, 1 to run" in capsys.readouterr().out
    assert pd.read_csv(out / "results.csv").X.tolist() == [1, 2]
    assert len((out / bad / "attempts.log").read_text().splitlines()) == 2
    good = point_id({"X": 1, "FAIL_FLAG": str(flag)})
    assert len((out / good / "attempts.log").read_text().splitlines()) == 1
    assert not partial.exists() and not (out / bad / "error.json").exists()


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_point_over_its_timeout_fails_and_leaves_no_process(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(TINY), "-p", "SLEEP", "120", "--timeout", "8", "--workers", "1", "--out", str(out)]) == 1
    assert "timed out after 8 s" in capsys.readouterr().out
    assert not (out / "results.csv").exists()
    _assert_no_strays(out)


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_interrupted_sweep_resumes_with_every_point_once(tmp_path):
    out = tmp_path / "out"
    args = ["sweep", str(TINY), "-p", "X", "1", "2", "3", "4", "5", "-p", "SLEEP", "1", "--workers", "2",
            "--out", str(out)]
    for sig, code in ((signal.SIGINT, 130), (signal.SIGKILL, -9)):  # Ctrl-C, then a killed process
        before = len(list(out.glob("*/done.json")))
        proc = subprocess.Popen([sys.executable, "-m", "companion", *args], env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        _wait_for(lambda: len(list(out.glob("*/done.json"))) > before or proc.poll() is not None, 180)
        proc.send_signal(sig)
        assert proc.wait(60) == code, proc.stdout.read()
        if sig == signal.SIGINT:
            assert "interrupted: rerun the same command to resume" in proc.stdout.read()
        _assert_no_strays(out)
    finished = {p.parent.name for p in out.glob("*/done.json")}
    assert 2 <= len(finished) < 5
    assert main(args) == 0
    df = pd.read_csv(out / "results.csv")
    assert sorted(df.X) == [1, 2, 3, 4, 5] and df.point_id.is_unique
    for pid in finished:  # points finished before were not run again (this process ran the last attempts)
        pids = [json.loads(line)["pid"] for line in (out / pid / "attempts.log").read_text().splitlines()]
        assert os.getpid() not in pids
    assert sum(os.getpid() in [json.loads(x)["pid"] for x in p.read_text().splitlines()]
               for p in out.glob("*/attempts.log")) == 5 - len(finished)


@pytest.mark.notebook
@pytest.mark.timeout(300)
def test_dask_cluster_sweep_survives_a_killed_worker(tmp_path):
    dask = Path(sys.executable).parent / "dask"
    out, info = tmp_path / "out", tmp_path / "scheduler.json"
    procs = []

    def start(*args):
        procs.append(subprocess.Popen([str(dask), *args], env=ENV, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        return procs[-1]

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--idle-timeout", "300",
              "--scheduler-file", str(info))
        _wait_for(lambda: info.is_file() and info.stat().st_size > 0, 60)
        address = json.loads(info.read_text())["address"]
        workers = [start("worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                         "--name", f"w{i}", "--death-timeout", "60") for i in (1, 2)]
        sweep = subprocess.Popen([sys.executable, "-m", "companion", "sweep", str(TINY), "-p", "X", "1", "2", "3", "4",
                                  "-p", "SLEEP", "1", "--scheduler", address, "--out", str(out)],
                                 env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        victim = workers[0]

        def victim_busy():  # a point whose latest attempt runs on the first worker and has not finished
            for log in out.glob("*/attempts.log"):
                last = json.loads(log.read_text().splitlines()[-1])
                if last["pid"] == victim.pid and not (log.parent / "done.json").exists():
                    return True
            return sweep.poll() is not None

        try:
            _wait_for(victim_busy, 180)
            victim.kill()
            assert sweep.wait(240) == 0, sweep.stdout.read()
        finally:
            if sweep.poll() is None:
                sweep.kill()
                sweep.wait(30)
        df = pd.read_csv(out / "results.csv")
        assert sorted(df.X) == [1, 2, 3, 4] and df.point_id.is_unique
        np.testing.assert_allclose(df.accuracy, 1 / (1 + df.X * 0.5))
        attempts = {p.parent.name: [json.loads(line) for line in p.read_text().splitlines()]
                    for p in out.glob("*/attempts.log")}
        retried = [a for a in attempts.values() if len(a) == 2]
        assert len(retried) == 1 and retried[0][0]["worker"] == "w1" and retried[0][1]["worker"] == "w2"
    finally:  # the scheduler and workers run in their own sessions: kill each whole group
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(30)
    _assert_no_strays(out)


# ---------------------------------------------------------------- helpers

def _notebook(path: Path, parameters: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, path)
    return path


def _wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {seconds} s")
        time.sleep(0.2)


def _strays(out: Path) -> list[str]:
    """Processes still running a point of ``out`` (papermill children) or a kernel of the test notebooks."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(out) in cmd or ("ipykernel" in cmd and cwd == str(NB_DIR)):
            found.append(f"{proc.name}: {cmd[:120]}")
    return found


def _assert_no_strays(out: Path) -> None:
    try:
        _wait_for(lambda: not _strays(out), 15)
    except TimeoutError:
        pytest.fail(f"processes left running: {_strays(out)}")
