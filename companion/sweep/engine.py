"""Parameter sweeps: any notebook as a benchmark grid, run by papermill on a local pool or a Dask cluster.

``python -m companion sweep NOTEBOOK -p NAME VALUE [VALUE ...] [--grid GRID.yaml] [--seeds N]
[--workers N] [--scheduler ADDRESS] [--out DIR] [--timeout SECONDS] [--metric COLUMN ...]``

The grid is the Cartesian product of the values (and of ``SEED = 0 .. N-1`` with ``--seeds N``); every
name and value is checked against the notebook's ``parameters`` cell before anything runs. Each point
runs in ``DIR/<point-id>/`` (see :mod:`companion.sweep.executors`); a re-run skips finished points, so
``DIR/results.csv``, rebuilt from the finished points each time, never loses or repeats a row.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io import write_json_atomic
from .executors import DONE, DaskExecutor, LocalExecutor, is_finished
from .grid import SEED_PARAM, SweepError, _canon, build_grid, notebook_parameters, point_id
from .report import report


@dataclass
class SweepResult:
    """What a sweep did: one status per point (``done``, ``skipped``, ``failed``, ``not run``) and the files."""

    out: Path
    points: list[dict]
    csv: Path | None = None
    figures: list[Path] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[dict]:
        return [p for p in self.points if p["status"] in ("failed", "not run")]

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else (1 if self.failed else 0)


def _manifest(out: Path, notebook: Path) -> None:
    """Refuse to mix two notebooks' points in one ``DIR``; record which notebook ``DIR`` belongs to."""
    path = out / "sweep.json"
    if path.is_file():
        other = json.loads(path.read_text()).get("notebook", "")
        if Path(other).name != notebook.name:
            raise SweepError(f"{out} holds a sweep of {other}; give another --out for {notebook}")
    else:
        write_json_atomic({"notebook": str(notebook)}, path)


def sweep(notebook, values: dict[str, list] | None = None, *, seeds: int | None = None, workers: int | None = None,
          scheduler: str | None = None, out=None, timeout: float | None = 3600, metric="accuracy",
          retries: int = 2, echo=print) -> SweepResult:
    """Run every point of the grid not finished yet; write ``results.csv``, the summary and the figures.

    ``values`` maps parameter names to lists of values; ``scheduler`` is a Dask address (default:
    ``$DASK_SCHEDULER_ADDRESS``; none: a local pool of ``workers`` processes, default the number of cores).
    ``timeout`` is per point, in seconds; ``metric`` is a column (or a list of columns) plotted against each
    swept parameter. Raises :class:`SweepError` before running anything on bad input.
    """
    notebook = Path(notebook).resolve() if Path(notebook).exists() else Path(notebook)
    parameters = notebook_parameters(notebook)
    grid = build_grid(parameters, values or {}, seeds, notebook.name)
    if timeout is not None and not timeout > 0:
        raise SweepError(f"--timeout must be > 0 seconds, got {timeout}")
    out = Path(out or Path("results") / "sweeps" / notebook.stem).resolve()
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {out} exists and is not a folder")
    if (out / "sweep.json").is_file():
        _manifest(out, notebook)
    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if scheduler:
        executor = DaskExecutor(scheduler, retries=retries)
    else:
        workers = workers or os.cpu_count() or 1
        if workers < 1:
            raise SweepError(f"--workers must be >= 1, got {workers}")
        executor = LocalExecutor(workers)
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = _lock(out)
        try:
            return _sweep(executor, notebook, out, grid, values, seeds, timeout, metric, echo)
        finally:
            lock.close()
    finally:
        executor.close()


def _lock(out: Path):
    """Hold an exclusive lock on ``DIR`` for the sweep's life (released by the OS even if it is killed)."""
    import fcntl

    f = open(out / "sweep.lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise SweepError(f"another sweep is running in {out}; wait for it or give another --out") from None
    return f


def _sweep(executor, notebook: Path, out: Path, grid: list[dict], values, seeds, timeout, metric, echo) -> SweepResult:
    _manifest(out, notebook)
    points = [{"id": point_id(p), "params": p} for p in grid]
    for p in points:
        p["status"] = "skipped" if is_finished(out / p["id"]) else "not run"
    todo = [p for p in points if p["status"] == "not run"]
    echo(f"sweep {notebook.name}: {len(points)} points, {len(points) - len(todo)} already finished, "
         f"{len(todo)} to run on {executor.describe()} -> {out}")
    interrupted = _run(executor, todo, notebook, out, timeout)
    executor.close()  # waits for the local pool's threads: every marker is on disk now
    for p in points:
        if p["status"] == "skipped" or (p["status"] == "not run" and is_finished(out / p["id"])):
            p.update(json.loads((out / p["id"] / DONE).read_text()), status=p["status"].replace("not run", "done"))
    result = SweepResult(out, points, interrupted=interrupted)
    swept = [n for n in (list(values or {}) + ([SEED_PARAM] if seeds else [])) if len({_canon(p[n]) for p in grid}) > 1]
    metrics = [metric] if isinstance(metric, str) else list(metric)
    result.csv, result.figures = report(points, out, swept, metrics, notebook.stem, SEED_PARAM, echo)
    if interrupted:
        echo(f"interrupted: rerun the same command to resume ({sum(p['status'] == 'not run' for p in points)} "
             "points left)")
    return result


def _run(executor, todo: list[dict], notebook: Path, out: Path, timeout: float | None) -> bool:
    """Submit every point in ``todo``, record each status as it comes; True if interrupted (Ctrl-C)."""
    from tqdm.auto import tqdm

    counts = {"done": 0, "failed": 0}
    futures = {}
    bar = tqdm(total=len(todo), desc="sweep", unit="point")
    try:
        for p in todo:
            spec = {"id": p["id"], "params": p["params"], "notebook": str(notebook), "dir": str(out / p["id"]),
                    "timeout": timeout}
            futures[executor.submit(spec)] = p
        bar.set_postfix(finished=0, failed=0, remaining=len(todo))
        for fut in executor.as_completed(list(futures)):
            p = futures[fut]
            try:
                p.update(fut.result())
            except Exception as e:  # a task the executor gave up on (e.g. Dask's KilledWorker)
                p.update(status="failed", error=f"{type(e).__name__}: {e}")
            counts["done" if p["status"] == "done" else "failed"] += 1
            bar.set_postfix(finished=counts["done"], failed=counts["failed"],
                            remaining=len(todo) - counts["done"] - counts["failed"], refresh=False)
            bar.update(1)
        return False
    except KeyboardInterrupt:
        executor.interrupt(list(futures))
        return True
    finally:
        bar.close()
