"""Sweep execution: local pool and Dask cluster, failures, timeouts, interruption, resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from companion.__main__ import main
from companion.sweep import point_id

ROOT = Path(__file__).resolve().parents[2]


NB_DIR = ROOT / "tests" / "sweep" / "fixtures"


TINY = NB_DIR / "sweep_tiny.ipynb"


NO_PARAMS = NB_DIR / "sweep_no_parameters.ipynb"


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
       "TQDM_DISABLE": "1"}


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
