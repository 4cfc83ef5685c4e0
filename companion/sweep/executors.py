"""Running one sweep point, and the executors that run many: a local pool or a Dask cluster.

A point runs papermill in its own child process (so a timeout or Ctrl-C can stop it, kernel included)
and leaves in its folder ``DIR/<point-id>/``:

- ``point.json``: its parameters (written before it starts);
- ``<notebook>.partial.ipynb`` while it runs (papermill saves after each cell), renamed to
  ``<notebook>.ipynb`` when it succeeds and kept under the partial name when it fails;
- ``results.json``: its rows, written atomically by the notebook's own ``record(rows, RESULTS_PATH)``;
- ``done.json``: the done marker, written atomically last. A point is finished exactly when
  ``done.json`` and ``results.json`` both exist; anything else is run again by the next sweep;
- ``error.json`` when it failed (the error and the path of the partial notebook), and
  ``papermill.log`` (the child's output) and ``attempts.log`` (one line per attempt: host, pid, worker).
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..execution.kernel import TRANSPORT_ENCRYPTION
from ..io import write_json_atomic

DONE, RESULTS, ERROR, POINT = "done.json", "results.json", "error.json", "point.json"
KERNEL = "python3"

# Runs in the child process. It asks the kernel to kill it when the thread that started it dies
# (a killed sweep or Dask worker), so no papermill outlives its sweep; its Jupyter kernel in turn
# exits when it sees its parent gone (ipykernel's parent poller).
_CHILD = r"""
import ctypes, json, os, signal, sys
spec = json.loads(sys.argv[1])
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG (Linux)
except Exception:
    pass
if os.getppid() != spec["parent_pid"]:
    sys.exit(3)
import papermill as pm
from traitlets.config import Config
from companion.io import write_json_atomic

config = Config()  # encrypted kernel transport: no "running over TCP without encryption" (companion.execution.kernel)
config.KernelManager.transport_encryption = spec["transport_encryption"]

def fail(message, cell=None):
    write_json_atomic({"error": message, "cell": cell}, spec["error"])
    sys.exit(1)

try:
    pm.execute_notebook(spec["input"], spec["output"], parameters=spec["parameters"], cwd=spec["cwd"],
                        kernel_name=spec["kernel"], progress_bar=False, config=config)
except pm.PapermillExecutionError as e:
    fail(f"{e.ename}: {e.evalue}", e.exec_count)
except BaseException as e:
    fail(f"{type(e).__name__}: {e}")
"""

_LIVE: set[subprocess.Popen] = set()  # children running in this process, for terminate_all()
_LIVE_LOCK = threading.Lock()


def is_finished(point_dir) -> bool:
    """A point is finished when its done marker and its results JSON both exist."""
    point_dir = Path(point_dir)
    return (point_dir / DONE).is_file() and (point_dir / RESULTS).is_file()


def _worker_name() -> str | None:
    try:
        from distributed import get_worker
        return str(get_worker().name)
    except (ImportError, ValueError):
        return None


def _clear(point_dir: Path, stem: str) -> None:
    """Remove what an earlier, unfinished attempt may have left (never a finished point's files)."""
    for name in (DONE, RESULTS, ERROR, f"{stem}.ipynb", f"{stem}.partial.ipynb"):
        (point_dir / name).unlink(missing_ok=True)


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM a child, then SIGKILL it if it has not exited after ``grace`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def terminate_all() -> None:
    """Stop every point this process is running (Ctrl-C): their kernels exit with them."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        _stop(proc)


def run_point(spec: dict) -> dict:
    """Run one point: papermill in a child process, with a timeout; return its status.

    ``spec`` holds ``id``, ``params`` (dict), ``notebook`` (absolute path), ``dir`` (the point's folder,
    absolute), ``timeout`` (seconds or None) and ``env`` (extra environment variables). The notebook gets
    ``RESULTS_PATH = <dir>/results.json``. A failing notebook is a returned status, not an exception:
    exceptions are left for broken infrastructure (so Dask retries only those).
    """
    point_dir, notebook = Path(spec["dir"]), Path(spec["notebook"])
    point_dir.mkdir(parents=True, exist_ok=True)
    stem, host, worker = notebook.stem, socket.gethostname(), _worker_name()
    if is_finished(point_dir):  # a retry of a point that did finish (e.g. its worker died after the marker)
        return {"id": spec["id"], "status": "done", "seconds": 0.0, "host": host, "worker": worker}
    _clear(point_dir, stem)
    write_json_atomic({"id": spec["id"], "params": spec["params"], "notebook": str(notebook)}, point_dir / POINT)
    with open(point_dir / "attempts.log", "a") as f:
        f.write(json.dumps({"host": host, "pid": os.getpid(), "worker": worker, "start": time.time()}) + "\n")
    partial = point_dir / f"{stem}.partial.ipynb"
    child = {"input": str(notebook), "output": str(partial), "cwd": str(notebook.parent), "kernel": KERNEL,
             "parameters": {**spec["params"], "RESULTS_PATH": str(point_dir / RESULTS)},
             "error": str(point_dir / ERROR), "parent_pid": os.getpid(), "transport_encryption": TRANSPORT_ENCRYPTION}
    env = {**os.environ, **spec.get("env", {})}
    status = {"id": spec["id"], "host": host, "worker": worker, "notebook": str(partial)}
    start = time.perf_counter()
    with open(point_dir / "papermill.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(child)], stdout=log,
                                stderr=subprocess.STDOUT, env=env, process_group=0)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        try:
            proc.wait(timeout=spec.get("timeout"))
            error = None
        except subprocess.TimeoutExpired:
            _stop(proc)
            error = f"timed out after {spec['timeout']:g} s"
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
    status["seconds"] = round(time.perf_counter() - start, 3)
    if error is None and proc.returncode != 0:
        error = _read_error(point_dir, proc.returncode)
    if error is None and not _valid_results(point_dir / RESULTS):
        error = f"the notebook ran but wrote no rows to RESULTS_PATH ({point_dir / RESULTS})"
    if error is not None:
        write_json_atomic({**status, "error": error}, point_dir / ERROR)
        return {**status, "status": "failed", "error": error}
    final = point_dir / f"{stem}.ipynb"
    os.replace(partial, final)
    status.update(notebook=str(final), rows=len(json.loads((point_dir / RESULTS).read_text())))
    write_json_atomic({**status, "params": spec["params"], "finished": time.time()}, point_dir / DONE)
    return {**status, "status": "done"}


def _read_error(point_dir: Path, returncode: int) -> str:
    try:
        info = json.loads((point_dir / ERROR).read_text())
        cell = f" (cell {info['cell']})" if info.get("cell") is not None else ""
        return info["error"] + cell
    except (OSError, ValueError, KeyError):
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exited with status {returncode}"
        return f"papermill {how}; see {point_dir / 'papermill.log'}"


def _valid_results(path: Path) -> bool:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(rows, list) and len(rows) > 0 and all(isinstance(r, dict) for r in rows)


class LocalExecutor:
    """At most ``workers`` points at once on this machine, each in its own papermill process.

    Threads only wait on the children, so the pool needs no pickling and no scheduler; each point
    gets ``OMP_NUM_THREADS = cores // workers`` (unless set) so parallel points do not oversubscribe.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep")
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.env = {} if "OMP_NUM_THREADS" in os.environ else {"OMP_NUM_THREADS": str(threads)}

    def describe(self) -> str:
        return f"local pool of {self.workers} worker{'s' * (self.workers != 1)}"

    def submit(self, spec: dict):
        return self.pool.submit(run_point, {**spec, "env": {**self.env, **spec.get("env", {})}})

    def as_completed(self, futures):
        return cf.as_completed(futures)

    def interrupt(self, futures) -> None:
        for f in futures:
            f.cancel()
        terminate_all()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Points as tasks on a Dask cluster (``dask.distributed``); the scheduler reschedules the tasks of a
    worker that dies, and ``retries`` re-runs a task that raised (broken infrastructure, not a failing
    notebook). Workers must import ``companion`` and see the notebook and ``DIR`` at the same paths."""

    def __init__(self, address: str, retries: int = 2):
        from distributed import Client
        self.address, self.retries = address, retries
        try:  # waits up to dask's distributed.comm.timeouts.connect (30 s by default)
            self.client = Client(address, set_as_default=False)
        except OSError as e:
            raise ConnectionError(f"cannot reach the Dask scheduler at {address}: {e}") from e

    def describe(self) -> str:
        n = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        return f"Dask cluster at {self.address} ({n} worker{'s' * (n != 1)} now)"

    def submit(self, spec: dict):
        key = f"sweep-{spec['id']}-{os.urandom(4).hex()}"
        return self.client.submit(run_point, spec, key=key, pure=False, retries=self.retries)

    def as_completed(self, futures):
        from distributed import as_completed
        return as_completed(futures, loop=self.client.loop)

    def interrupt(self, futures) -> None:
        # Tasks already running on workers cannot be stopped; they finish and write their markers.
        self.client.cancel(list(futures))

    def close(self) -> None:
        self.client.close()
