"""One line per cell while a notebook runs: which notebook, which cell of how many, elapsed time."""
from __future__ import annotations

import sys
import time
from pathlib import Path


def clock(seconds: float) -> str:
    """``75.2`` → ``"1:15"``; ``3725`` → ``"1:02:05"``."""
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def code_cells(path) -> int:
    """Code cells papermill will execute in the notebook at ``path`` (non-empty ones)."""
    import nbformat

    nb = nbformat.read(Path(path), as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())


class CellProgress:
    """nbclient's ``on_cell_start`` hook: prints ``[name] cell 3/24 · 0:05 · <first line of the cell>``.

    ``total`` counts the code cells to run (add one for papermill's injected-parameters cell); ``started``
    is the ordinal of the cell running now, so after a failure it names the failing cell.
    """

    def __init__(self, name: str, total: int, stream=None, width: int = 60):
        self.name, self.total, self.started, self.width = name, total, 0, width
        self.stream = stream or sys.stdout
        self.t0 = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def on_cell_start(self, cell, cell_index: int) -> None:
        if cell.cell_type != "code" or not cell.source.strip():
            return  # nbclient calls the hook for every cell; only code cells run
        self.started += 1
        first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
        first = first if len(first) <= self.width else first[: self.width - 1] + "…"
        digits = len(str(self.total))
        print(f"[{self.name}] cell {self.started:>{digits}}/{self.total} · {clock(self.elapsed):>5} · {first}",
              file=self.stream, flush=True)
