"""The shipped tabular benchmark ``nas-bench-fmnist-mini``: every architecture of the space, trained once.

``data/nas-bench-fmnist-mini/table.json`` holds one column per figure (indexed by the architecture's index in
the space), with the space, the protocol and the build's conditions; ``SHA256SUMS`` holds its digest, checked
on every load. A search "trains" an architecture by looking it up: :meth:`Table.query`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import write_json_atomic, write_text_atomic
from .space import SearchSpace

TABLE_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "nas-bench-fmnist-mini"
TABLE_FILE = "table.json"
FORMAT = 1
REQUIRED = ("index", "name", "val_accuracy", "test_accuracy", "params", "macs")
REBUILD = ("restore it with `git checkout -- data/nas-bench-fmnist-mini` or rebuild it with "
           "`python benchmarks/build_nas_table.py` (about 20-40 min on 2 cores)")


class TableError(RuntimeError):
    """The benchmark table is missing, corrupt or malformed; the message says what to do."""


@dataclass
class Table:
    """Columns of figures per architecture (``columns[name][index]``), the space and how they were made."""

    space: SearchSpace
    columns: dict[str, np.ndarray]
    protocol: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self):
        missing = [c for c in REQUIRED if c not in self.columns]
        if missing:
            raise TableError(f"table lacks columns {missing}; it needs {', '.join(REQUIRED)}")
        self.columns = {k: np.asarray(v) for k, v in self.columns.items()}
        bad = {k: len(v) for k, v in self.columns.items() if len(v) != self.space.size}
        if bad:
            raise TableError(f"every column needs one value per architecture ({self.space.size}); got lengths {bad}")
        if not np.array_equal(self.columns["index"], np.arange(self.space.size)):
            raise TableError("the index column must list the architectures 0 .. size-1 in order")

    @property
    def size(self) -> int:
        return self.space.size

    def metrics(self) -> list[str]:
        return [k for k in self.columns if k not in ("index", "name")]

    def value(self, arch, metric: str = "val_accuracy") -> float:
        """The figure ``metric`` of ``arch`` (a decision tuple or an index)."""
        if metric not in self.columns:
            raise KeyError(f"unknown metric {metric!r}; the table has {', '.join(self.metrics())}")
        index = arch if isinstance(arch, (int, np.integer)) else self.space.encode(arch)
        if not 0 <= index < self.size:
            raise ValueError(f"architecture index must be in [0, {self.size}), got {index}")
        return float(self.columns[metric][index])

    def query(self, arch) -> float:
        """What a search observes: the validation proxy accuracy of ``arch``."""
        return self.value(arch, "val_accuracy")

    def best(self, metric: str = "val_accuracy") -> tuple[tuple[int, ...], float]:
        """The architecture with the highest ``metric``, and that value."""
        i = int(np.argmax(self.columns[metric]))
        return self.space.decode(i), float(self.columns[metric][i])

    def frame(self):
        """The table as a pandas DataFrame, one row per architecture, with op/width columns per block."""
        import pandas as pd

        df = pd.DataFrame(self.columns)
        for b in range(self.space.blocks):
            df[f"op{b + 1}"] = [self.space.ops[self.space.decode(i)[2 * b]] for i in df["index"]]
            df[f"width{b + 1}"] = [self.space.widths[self.space.decode(i)[2 * b + 1]] for i in df["index"]]
        return df

    def as_dict(self) -> dict:
        cols = {k: v.tolist() for k, v in self.columns.items()}
        return {"name": "nas-bench-fmnist-mini", "format": FORMAT, "space": self.space.as_dict(),
                "protocol": self.protocol, "build": self.build, "columns": cols}


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_table(table: Table, directory) -> Path:
    """Write ``table.json`` (compact JSON) and ``SHA256SUMS`` into ``directory``, atomically; return the JSON path."""
    directory = Path(directory)
    path = write_json_atomic(table.as_dict(), directory / TABLE_FILE, indent=None)
    write_text_atomic(f"{sha256(path)}  {TABLE_FILE}\n", directory / "SHA256SUMS")
    return path


def verify(directory) -> None:
    """Check ``directory/table.json`` against ``directory/SHA256SUMS``; raise :class:`TableError` naming the problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TableError(f"the NAS benchmark table folder {directory} is missing; {REBUILD}")
    sums, path = directory / "SHA256SUMS", directory / TABLE_FILE
    if not path.is_file():
        raise TableError(f"{path} is missing; {REBUILD}")
    if not sums.is_file():
        raise TableError(f"{sums} is missing, so {path} cannot be checked; {REBUILD}")
    expected = {name: digest for digest, name in (ln.split() for ln in sums.read_text().splitlines() if ln.strip())}
    if TABLE_FILE not in expected:
        raise TableError(f"{sums} lists no digest for {TABLE_FILE}; {REBUILD}")
    if sha256(path) != expected[TABLE_FILE]:
        raise TableError(f"checksum mismatch for {path}: the table is corrupt or was edited; {REBUILD}")


def load_table(directory=None) -> Table:
    """The benchmark table in ``directory`` (default: the shipped one), its SHA-256 checked first."""
    directory = Path(directory) if directory is not None else TABLE_DIR
    verify(directory)
    try:
        data = json.loads((directory / TABLE_FILE).read_text())
        if data.get("format") != FORMAT:
            raise TableError(f"{directory / TABLE_FILE} has format {data.get('format')!r}; this code reads format {FORMAT}")
        space = SearchSpace(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["space"].items()})
        return Table(space, data["columns"], data.get("protocol", {}), data.get("build", {}), directory / TABLE_FILE)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise TableError(f"{directory / TABLE_FILE} is not a valid benchmark table ({type(e).__name__}: {e}); "
                         f"{REBUILD}") from e
