"""Parameter sweeps: any notebook as a benchmark grid, run by papermill on a local pool or a Dask cluster.

``python -m companion sweep NOTEBOOK -p NAME VALUE [VALUE ...] [--grid GRID.yaml] [--seeds N]
[--workers N] [--scheduler ADDRESS] [--out DIR] [--timeout SECONDS] [--metric COLUMN ...]``

The grid is the Cartesian product of the values (and of ``SEED = 0 .. N-1`` with ``--seeds N``); every
name and value is checked against the notebook's ``parameters`` cell before anything runs. Each point
runs in ``DIR/<point-id>/`` (see :mod:`companion.sweep_exec`); a re-run skips finished points, so
``DIR/results.csv``, rebuilt from the finished points each time, never loses or repeats a row.
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .sweep_exec import DONE, KERNEL, DaskExecutor, LocalExecutor, is_finished
from .sweep_report import report

SEED_PARAM = "SEED"
RESERVED = {"RESULTS_PATH": "the sweep sets it to DIR/<point-id>/results.json"}
_TYPES = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "tuple": list, "dict": dict}


class SweepError(ValueError):
    """A sweep that cannot start: missing notebook, no parameters cell, unknown parameter, wrong type."""


@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell: its name, declared type (None: unknown), default."""

    name: str
    type: type | None
    default: str
    help: str = ""


def _literal_type(text: str) -> type | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return None if value is None else _TYPES.get(type(value).__name__)


def notebook_parameters(notebook) -> dict[str, NotebookParameter]:
    """The parameters a notebook declares, from papermill's parameter inspection (names, annotations, help);
    a name's type is its annotation, else the type of its literal default (``X = 1`` → int).

    Raises :class:`SweepError` if the notebook is missing, unreadable or has no cell tagged ``parameters``.
    """
    import nbformat
    from papermill.translators import papermill_translators

    path = Path(notebook)
    if not path.is_file():
        raise SweepError(f"no such notebook: {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # nbformat raises several kinds for a broken file
        raise SweepError(f"cannot read notebook {path}: {e}") from e
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise SweepError(f"{path} has no cell tagged 'parameters'; papermill needs one to inject a sweep's values "
                         "(tag the cell holding its literals, e.g. SEED = 0)")
    out = {}
    # what papermill.inspect_notebook does, with the kernel the sweep runs (the notebook may name none)
    for p in papermill_translators.find_translator(KERNEL, "python").inspect(cells[0]):
        annotation = p.inferred_type_name
        typ = _TYPES.get(annotation.split("[")[0].strip()) if annotation != "None" else _literal_type(p.default)
        out[p.name] = NotebookParameter(p.name, typ, p.default, p.help)
    try:  # papermill's line parser skips lines with two '=': take those from the syntax tree
        tree = ast.parse(cells[0].source)
    except SyntaxError:
        return out
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, text = node.targets[0].id, ast.get_source_segment(cells[0].source, node.value) or ""
            out.setdefault(name, NotebookParameter(name, _literal_type(text), text))
    return out


def parse_value(text: str):
    """A command-line value as a Python literal (``0.5``, ``8``, ``True``, ``"cifar10"``, ``[8, 4]``);
    anything that is not a literal (``cifar10``) is taken as a string; ``nan``/``inf`` are floats."""
    if text.strip().lower() in ("nan", "inf", "+inf", "-inf"):
        return float(text)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def load_grid(path) -> dict[str, list]:
    """``GRID.yaml`` mapping parameter names to lists of values (a single value is a list of one)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SweepError(f"no such grid file: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SweepError(f"cannot parse grid file {path}: {e}") from e
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise SweepError(f"grid file {path} must map parameter names to lists of values, e.g. 'SPARSITY: [0.5, 0.9]'")
    return {k: list(v) if isinstance(v, list) else [v] for k, v in data.items()}


def _passable(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_passable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _passable(v) for k, v in value.items())
    return False


def _coerce(value, typ: type):
    """``value`` as ``typ`` (an int is a fine float), or raise TypeError."""
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is list and isinstance(value, tuple):
        return list(value)
    if isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
        return value
    raise TypeError


def check_value(param: NotebookParameter, value):
    """``value`` checked against the parameter's declared type and normalised (int → float where a float is
    declared, tuple → list); raises :class:`SweepError` naming the parameter on a mismatch."""
    if not _passable(value):
        raise SweepError(f"parameter {param.name}: {value!r} ({type(value).__name__}) cannot be passed to a notebook; "
                         "use numbers, strings, booleans, None, lists or dicts")
    if param.type is None:
        return value
    try:
        value = _coerce(value, param.type)
        default = ast.literal_eval(param.default) if param.type is list else None
        element = {type(v) for v in default or []}
        if len(element) == 1 and (etype := element.pop()) in (bool, int, float, str):
            value = [_coerce(v, etype) for v in value]
    except (TypeError, ValueError, SyntaxError):
        hint = ""
        if isinstance(value, str) and re.fullmatch(r"[-+]?[\d.]+(e[-+]?\d+)?", value.strip(), re.I):
            hint = " (in a YAML grid write exponents with a dot, 1.0e-3, or numbers unquoted)"
        raise SweepError(f"parameter {param.name} expects {param.type.__name__} (its default is {param.default}), "
                         f"got {type(value).__name__} {value!r}{hint}") from None
    return value


def build_grid(parameters: dict[str, NotebookParameter], values: dict[str, list], seeds: int | None = None,
               notebook: str = "the notebook") -> list[dict]:
    """Every point of the grid (Cartesian product, in the order given), each value checked and normalised."""
    values = dict(values)
    if seeds is not None:
        if seeds < 1:
            raise SweepError(f"--seeds must be >= 1, got {seeds}")
        if SEED_PARAM in values:
            raise SweepError(f"give either --seeds or -p {SEED_PARAM}, not both")
        values[SEED_PARAM] = list(range(seeds))
    valid = ", ".join(n for n in parameters if n not in RESERVED)
    for name, vals in values.items():
        if name in RESERVED:
            raise SweepError(f"parameter {name} cannot be swept: {RESERVED[name]}")
        if name not in parameters:
            raise SweepError(f"unknown parameter {name!r}: {notebook}'s parameters cell defines {valid}")
        if not vals:
            raise SweepError(f"parameter {name} has no values")
    for name in RESERVED:
        if name not in parameters:
            raise SweepError(f"{notebook}'s parameters cell must define {name}: {RESERVED[name]}")
    axes = {}
    for name, vals in values.items():
        checked = [check_value(parameters[name], v) for v in vals]
        axes[name] = [v for i, v in enumerate(checked) if _canon(v) not in {_canon(w) for w in checked[:i]}]
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def _canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=True)


def point_id(params: dict) -> str:
    """A stable, readable folder name for a point: ``NAME=a_X=1_Y=0.5-<8 hex of its parameters' hash>``."""
    digest = hashlib.sha1(_canon(params).encode()).hexdigest()[:8]
    slug = "_".join(f"{k}={v if not isinstance(v, (list, dict)) else _canon(v)}" for k, v in sorted(params.items()))
    slug = re.sub(r"[^A-Za-z0-9.=+-]+", "_", slug).strip("_")[:64] or "defaults"
    return f"{slug}-{digest}"


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
    from .results import write_json_atomic

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
