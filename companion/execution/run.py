"""``make run``: execute notebooks one after another with progress, keep going past a failure, summarize.

Each notebook is executed into ``<stem>.partial.ipynb`` and renamed to ``<name>.ipynb`` only when every cell
ran, so a finished file is always a whole run. A failing notebook keeps its partial file (outputs up to the
failing cell, and papermill's error banner) for inspection, and the summary names the cell.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..io import write_text_atomic
from .kernel import execute
from .progress import CellProgress, clock, code_cells


@dataclass(frozen=True)
class Outcome:
    """How one notebook run ended."""

    notebook: Path
    ok: bool
    seconds: float
    output: Path                 # the finished notebook (ok) or the partial one (failed)
    cells: int                   # code cells to run
    failed_cell: int | None = None   # ordinal (1-based) of the failing code cell
    exec_count: int | None = None    # its "In [n]"
    error: str = ""

    def describe(self) -> str:
        """One line for the summary."""
        if self.ok:
            return f"ok      {self.notebook.name}  ({self.cells} cells, {clock(self.seconds)})"
        where = f" at cell {self.failed_cell}/{self.cells}" if self.failed_cell else ""
        if self.failed_cell and self.exec_count:
            where += f" (In [{self.exec_count}])"
        kept = f"; partial notebook: {self.output}" if ".partial." in self.output.name else ""
        return f"FAILED  {self.notebook.name}{where} after {clock(self.seconds)}: {self.error}{kept}"


def partial_path(output: Path) -> Path:
    """``results/notebooks/00_baseline.ipynb`` → ``results/notebooks/00_baseline.partial.ipynb``."""
    return output.with_name(f"{output.stem}.partial{output.suffix}")


def _error_text(e: BaseException) -> str:
    ename, evalue = getattr(e, "ename", None), getattr(e, "evalue", None)
    if ename:
        return f"{ename}: {evalue}".splitlines()[0][:300]
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def finish(partial: Path, output: Path, name: str) -> None:
    """Move the finished ``partial`` onto ``output`` atomically, papermill's recorded paths set to ``name``.

    papermill records the input and output paths of the run in the notebook's metadata; a committed
    notebook should not carry this machine's temporary file names.
    """
    import nbformat

    nb = nbformat.read(partial, as_version=4)
    meta = nb.metadata.get("papermill")
    if meta is not None:
        meta["input_path"] = meta["output_path"] = name
    write_text_atomic(nbformat.writes(nb), output)
    partial.unlink()


def run_one(notebook: Path, output: Path, *, parameters: dict | None = None, partial: Path | None = None,
            stream=None) -> Outcome:
    """Execute ``notebook`` (working directory: its folder) into ``partial``, then move it to ``output``."""
    notebook, output = Path(notebook), Path(output)
    partial = Path(partial) if partial else partial_path(output)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.unlink(missing_ok=True)
    total = code_cells(notebook) + (1 if parameters else 0)  # papermill injects one cell for the parameters
    progress = CellProgress(notebook.stem, total, stream=stream)
    t0 = time.perf_counter()
    try:
        execute(notebook, partial, parameters=parameters, cwd=notebook.parent, on_cell_start=progress.on_cell_start)
    except Exception as e:  # noqa: BLE001 (a failing notebook must not stop the others)
        return Outcome(notebook, False, time.perf_counter() - t0, partial, total, progress.started or None,
                       getattr(e, "exec_count", None), _error_text(e))
    finish(partial, output, output.name)
    return Outcome(notebook, True, time.perf_counter() - t0, output, total)


def print_summary(outcomes: list[Outcome], stream=None) -> None:
    """The run's summary: one line per notebook, failures with their cell and partial notebook."""
    stream = stream or sys.stdout
    failed = [o for o in outcomes if not o.ok]
    total = sum(o.seconds for o in outcomes)
    print(f"\nSummary: {len(outcomes) - len(failed)} of {len(outcomes)} notebooks ran to the end "
          f"({clock(total)} in all)", file=stream)
    for o in outcomes:
        print("  " + o.describe(), file=stream)
    if failed:
        print(f"{len(failed)} failed: {', '.join(o.notebook.name for o in failed)}", file=stream)
    stream.flush()


def run_notebooks(notebooks: list[Path], out: Path, parameters: dict | None = None, stream=None) -> list[Outcome]:
    """``make run``: each notebook into ``out/notebooks/``, its rows to ``out/<stem>.json``; one outcome each."""
    stream = stream or sys.stdout
    out = Path(out).resolve()
    outcomes = []
    for i, nb in enumerate(notebooks, 1):
        nb = Path(nb).resolve()
        print(f"== {nb.name} ({i} of {len(notebooks)})", file=stream, flush=True)
        params = {"RESULTS_PATH": str(out / f"{nb.stem}.json"), **(parameters or {})}
        outcome = run_one(nb, out / "notebooks" / nb.name, parameters=params, stream=stream)
        if not outcome.ok:
            (out / "notebooks" / nb.name).unlink(missing_ok=True)  # no finished file of an older run beside it
            print(f"!! {outcome.describe()}", file=stream, flush=True)
        outcomes.append(outcome)
    return outcomes
