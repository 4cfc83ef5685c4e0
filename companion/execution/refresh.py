"""``make notebooks``: re-execute every committed notebook in place, on a quiet machine, from one model cache.

The committed notebooks are the companion's published measurements, so this refuses to start while other
processes keep the CPU busy (:func:`companion.measure.busy_other` over a few seconds, against
:data:`companion.measure.QUIET_CORES`), and checks again before each notebook. Each notebook runs at its
default parameters (papermill injects nothing), serially, in file order (``09_summary`` reads the others'
rows), with ``TQDM_DISABLE=1``. It executes into ``results/notebooks/<stem>.partial.ipynb``; only a run that
reached the last cell replaces the committed file, so a notebook is never left half-written. The rows the
notebook wrote at its default ``RESULTS_PATH`` are then copied to ``notebooks/results/<stem>.json``, where the
summary notebook reads them.
"""
from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

from ..io import write_bytes_atomic
from .run import Outcome, print_summary, run_one

BUSY_INTERVAL = 3.0  # seconds over which the CPU use of other processes is sampled


class BusyMachine(RuntimeError):
    """Other processes use more CPU than a quiet measurement allows."""


def check_quiet(busy_other=None, interval: float = BUSY_INTERVAL) -> float:
    """Cores' worth of CPU other processes use now; :class:`BusyMachine` when above ``QUIET_CORES`` or unknown."""
    from .. import measure

    busy = (busy_other or measure.busy_other)(interval)
    if busy is None:
        raise BusyMachine("cannot tell how busy the machine is (no /proc/stat): make notebooks needs Linux, "
                          "where it can check that nothing else runs while the notebooks measure")
    if busy > measure.QUIET_CORES:
        raise BusyMachine(f"other processes used {busy:.2f} cores over the last {interval:g} s (a quiet "
                          f"measurement allows at most {measure.QUIET_CORES}): stop them and run make notebooks "
                          "again. Every committed latency would otherwise be measured under load.")
    return busy


def default_results_path(notebook: Path) -> Path:
    """Where the notebook writes its rows at its defaults: its ``RESULTS_PATH``, relative to its folder."""
    import papermill as pm

    params = pm.inspect_notebook(str(notebook))
    if "RESULTS_PATH" not in params:
        raise ValueError(f"{notebook.name} has no RESULTS_PATH parameter")
    return (notebook.parent / ast.literal_eval(params["RESULTS_PATH"]["default"])).resolve()


def refresh_one(notebook: Path, root: Path, stream=None) -> Outcome:
    """Re-execute one committed notebook in place and copy its rows to ``notebooks/results/``."""
    notebook = Path(notebook).resolve()
    rows = default_results_path(notebook)
    rows.unlink(missing_ok=True)  # never copy the rows of an earlier run
    partial = Path(root) / "results" / "notebooks" / f"{notebook.stem}.partial.ipynb"
    outcome = run_one(notebook, notebook, partial=partial, stream=stream)
    if not outcome.ok:
        return outcome
    if not rows.exists():
        return Outcome(notebook, False, outcome.seconds, notebook, outcome.cells,
                       error=f"it wrote no rows at its RESULTS_PATH ({rows}); the notebook itself was updated")
    write_bytes_atomic(rows.read_bytes(), notebook.parent / "results" / f"{notebook.stem}.json")
    return outcome


def refresh(notebooks: list[Path], root: Path, *, busy_other=None, interval: float = BUSY_INTERVAL,
            stream=None) -> int:
    """``make notebooks``: 0 when every notebook ran, 1 when one failed, 2 when the machine is not quiet."""
    from ..train import cache_dir

    stream = stream or sys.stdout
    os.environ["TQDM_DISABLE"] = "1"  # the kernels inherit it: no progress bars in committed outputs
    print(f"make notebooks: {len(notebooks)} notebooks, serially, at their defaults; model cache {cache_dir()}",
          file=stream, flush=True)
    outcomes: list[Outcome] = []
    for i, nb in enumerate(notebooks, 1):
        try:
            busy = check_quiet(busy_other, interval)
        except BusyMachine as e:
            print(f"make notebooks refuses to {'start' if i == 1 else 'go on'}: {e}", file=sys.stderr, flush=True)
            if outcomes:
                print_summary(outcomes, stream)
            return 2
        print(f"== {Path(nb).name} ({i} of {len(notebooks)}; other processes: {busy:.2f} cores)", file=stream,
              flush=True)
        outcomes.append(refresh_one(nb, root, stream=stream))
        if not outcomes[-1].ok:
            print(f"!! {outcomes[-1].describe()}", file=stream, flush=True)
    print_summary(outcomes, stream)
    return 0 if all(o.ok for o in outcomes) else 1
