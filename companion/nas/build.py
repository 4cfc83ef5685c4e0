"""Building the benchmark table: every architecture trained with the protocol, through the sweep engine.

The architectures are split into ``chunks`` (architecture ``i`` goes to chunk ``i mod chunks``, so chunks
cost about the same); each chunk is one sweep point running ``table_chunk.ipynb`` (a papermill notebook kept
beside this module), which trains its architectures and writes one row each. The sweep engine runs the
points on a local pool or a Dask cluster and resumes after a kill (finished chunks are kept), so the
kernel start-up of a point is paid once per chunk, not per architecture. :func:`build_table` then
assembles the rows into ``table.json`` with its ``SHA256SUMS``, ``DATASHEET.md`` and ``LICENSE``.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ..io import write_text_atomic
from ..measure import CpuMonitor, cpu_model, latency_fields, latency_table
from ..results import make_row
from .protocol import Protocol, split, train_arch
from .space import SearchSpace
from .table import TABLE_DIR, Table, save_table

CHUNK_NOTEBOOK = Path(__file__).resolve().parent / "table_chunk.ipynb"
SECTION = "08_nas_table"


def chunk_indices(size: int, chunk: int, chunks: int, indices=None) -> list[int]:
    """The architecture indices of chunk ``chunk`` of ``chunks``: every ``chunks``-th one of ``indices``."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk must be in [0, {chunks}), got {chunk}")
    pool = list(range(size)) if indices is None else list(indices)
    return pool[chunk::chunks]


def train_chunk(chunk: int, chunks: int, space: SearchSpace = SearchSpace(), protocol: Protocol = Protocol(),
                indices=None, latency_rounds: int = 3) -> list[dict]:
    """Train the architectures of one chunk with ``protocol``; one result row each (``make_row``).

    Rows carry the validation and test proxy accuracies, params, MACs, the training wall time and the
    build host's batch-1 latency (interleaved over the chunk, ``protocol.threads`` threads; documentary).
    """
    from ..data import load_dataset
    from ..measure import count_macs, count_params

    splits = load_dataset(protocol.dataset)
    data = split(splits, protocol)
    cpu0 = time.process_time()
    trained = {}
    for i in chunk_indices(space.size, chunk, chunks, indices):
        arch = space.decode(i)
        trained[i] = train_arch(space, arch, splits, protocol, data=data)
    x = torch.zeros(1, *splits.input_shape)
    lat = {r["model"]: r for r in latency_table({space.name(space.decode(i)): m for i, (m, _) in trained.items()}, x,
                                                 rounds=latency_rounds, min_run_time=0.05, threads=protocol.threads)}
    cpu = (time.process_time() - cpu0) / max(len(trained), 1)
    rows = []
    for i, (model, scores) in trained.items():
        name = space.name(space.decode(i))
        rows.append(make_row(section=SECTION, method=name, dataset=splits.name, seed=protocol.seed,
                             accuracy=scores["test_accuracy"], params=count_params(model), nonzero_params=None,
                             bits=32, size_bytes=None, macs=count_macs(model, x), base_model=name,
                             **latency_fields(lat[name]), index=i, val_accuracy=scores["val_accuracy"],
                             test_accuracy=scores["test_accuracy"], train_seconds=scores["train_seconds"],
                             cpu_seconds_per_arch=cpu, chunk=chunk))
    return rows


def read_rows(work_dir) -> list[dict]:
    """Every row written by the finished chunks of a build folder."""
    rows = []
    for f in sorted(Path(work_dir).glob("*/results.json")):
        if (f.parent / "done.json").is_file():
            rows += json.loads(f.read_text())
    return rows


def assemble(rows: list[dict], space: SearchSpace, protocol: Protocol, build: dict) -> Table:
    """A :class:`Table` from the chunks' rows; every architecture of the space exactly once."""
    by_index = {}
    for r in rows:
        if r["index"] in by_index:
            raise ValueError(f"architecture {r['index']} appears twice in the build's rows")
        by_index[r["index"]] = r
    missing = sorted(set(range(space.size)) - set(by_index))
    if missing:
        raise ValueError(f"{len(missing)} architectures have no row (first: {missing[:5]}); re-run the build to resume")
    ordered = [by_index[i] for i in range(space.size)]
    columns = {"index": list(range(space.size)), "name": [space.name(space.decode(i)) for i in range(space.size)]}
    for col, digits in (("val_accuracy", 6), ("test_accuracy", 6), ("params", None), ("macs", None),
                        ("latency_ms", 5), ("busy_other", 3), ("train_seconds", 3)):
        values = [r[col] for r in ordered]
        columns[col] = values if digits is None else [None if v is None else round(float(v), digits) for v in values]
    return Table(space, columns, protocol.as_dict(), build)


def run_chunks(work_dir, *, chunks: int, workers: int | None = 2, scheduler: str | None = None,
               space: SearchSpace = SearchSpace(), protocol: Protocol = Protocol(), indices=None,
               timeout: float = 3600, echo=print):
    """Run the chunks of a build as sweep points of ``table_chunk.ipynb`` in ``work_dir``; finished ones are kept.

    ``indices`` restricts the build to those architectures (the benchmark's small timed builds); each point's
    kernel gets ``OMP_NUM_THREADS = protocol.threads``. Returns the :class:`companion.sweep.SweepResult`.
    """
    from ..sweep import sweep

    values = {"CHUNK": list(range(chunks)), "CHUNKS": [chunks], "SPACE": [space.as_dict()],
              "PROTOCOL": [protocol.as_dict()], "INDICES": [list(indices) if indices is not None else []]}
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(protocol.threads)
    try:
        return sweep(CHUNK_NOTEBOOK, values, workers=workers, scheduler=scheduler, out=Path(work_dir).resolve(),
                     timeout=timeout, metric=[], echo=echo)
    finally:
        os.environ.pop("OMP_NUM_THREADS") if saved is None else os.environ.__setitem__("OMP_NUM_THREADS", saved)


def build_table(out=TABLE_DIR, *, workers: int | None = 2, scheduler: str | None = None, chunks: int = 32,
                work_dir=None, space: SearchSpace = SearchSpace(), protocol: Protocol = Protocol(),
                timeout: float = 3600, echo=print) -> Path:
    """Train every architecture of ``space`` with ``protocol`` through the sweep engine; write the table to ``out``.

    ``workers`` local processes (each with ``protocol.threads`` threads) or a Dask ``scheduler`` address;
    ``work_dir`` (default ``results/nas-table-build``) keeps one folder per chunk, so re-running the same call
    resumes a killed build. Writes ``out/table.json``, ``SHA256SUMS``, ``DATASHEET.md`` and ``LICENSE``.
    """
    work_dir = Path(work_dir or Path("results") / "nas-table-build").resolve()
    start, monitor = time.perf_counter(), CpuMonitor().start()
    result = run_chunks(work_dir, chunks=chunks, workers=workers, scheduler=scheduler, space=space,
                        protocol=protocol, timeout=timeout, echo=echo)
    wall = time.perf_counter() - start
    if result.exit_code:
        raise RuntimeError(f"{len(result.failed)} chunks failed or did not run; see {work_dir}; re-run to resume")
    other = monitor.stop()
    rows = read_rows(work_dir)
    build = build_conditions(rows, wall, other, workers, scheduler, chunks)
    table = assemble(rows, space, protocol, build)
    path = save_table(table, out)
    write_text_atomic(datasheet(table), Path(out) / "DATASHEET.md")
    license_src = TABLE_DIR.parent / "fashion-mnist-mini" / "LICENSE"
    write_text_atomic(LICENSE_HEAD + license_src.read_text(), Path(out) / "LICENSE")
    return path


def build_conditions(rows, wall: float, other: float | None, workers, scheduler, chunks) -> dict:
    """What the datasheet says of the build: machine, torch, wall time, CPU use of other processes meanwhile."""
    train_s = sum(r["train_seconds"] for r in rows)
    lat_busy = [r["busy_other"] for r in rows if r["busy_other"] is not None]
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
            "workers": workers, "scheduler": scheduler or "local pool", "chunks": chunks, "wall_s": round(wall, 1),
            "train_seconds_total": round(train_s, 1), "other_busy_cores": None if other is None else round(other, 2),
            "latency_busy_other_median": round(float(np.median(lat_busy)), 2) if lat_busy else None,
            "niceness": os.nice(0), "resumed": train_s > wall * (workers or 1) * 1.05, "date": time.strftime("%Y-%m-%d")}


LICENSE_HEAD = """nas-bench-fmnist-mini is derived from Fashion-MNIST (Zalando SE): every figure in table.json was
obtained by training networks on fashion-mnist-mini, a subset of Fashion-MNIST. It is distributed under the
same licence as Fashion-MNIST:

"""


def datasheet(table: Table) -> str:
    """``DATASHEET.md``: the space, the protocol, the machine and the conditions of the build."""
    s, p, b = table.space, table.protocol, table.build
    val, test = table.columns["val_accuracy"], table.columns["test_accuracy"]
    busy = b.get("other_busy_cores")
    return f"""# nas-bench-fmnist-mini: a tabular NAS benchmark built on this project's data

Every architecture of a small search space, trained once with one fixed protocol. The accuracies are a
**proxy** (one short training run), not what the networks reach when trained to convergence.

## Space ({s.size} architectures)
- input 1×28×28 (Fashion-MNIST); stem: 3×3 conv, 1 → {s.stem_channels} channels, BN, ReLU, at 28×28;
- {s.blocks} searchable blocks of base channels {list(s.channels)} and strides {list(s.strides)}; each picks one
  operation among {", ".join(s.ops)} (`mbconv3x3`: MobileNetV2's inverted residual, expansion
  {s.expand_ratio}) and one width multiplier among {list(s.widths)};
- global average pool and a linear classifier; {int(table.columns["macs"].min()):,} to {int(table.columns["macs"].max()):,}
  MACs and {int(table.columns["params"].min()):,} to {int(table.columns["params"].max()):,} parameters per network.

Architecture names read `op@width/op@width/op@width`; `index` is the mixed-radix number of the decisions
(op₁, width₁, op₂, width₂, op₃, width₃), as in `companion.nas.SearchSpace.encode`.

## Protocol
- data: `{p.get("dataset")}`; {p.get("train_per_class")} training images per class ({10 * p.get("train_per_class", 0):,}) chosen
  by a seeded permutation (seed {p.get("split_seed")}); the other training images form the validation split; the
  2,000 test images are the test split;
- training: Adam, learning rate {p.get("lr")} with cosine decay, batch {p.get("batch_size")}, {p.get("epochs")} epoch(s), seed {p.get("seed")}
  for initial weights and batch order, {p.get("threads")} CPU thread(s) per network;
- recorded: validation and test proxy accuracy, parameters, MACs (FlopCounterMode, 2 FLOPs = 1 MAC), training
  wall time, and batch-1 latency on the build host (documentary: see below).

Validation accuracy spans {val.min():.2%} to {val.max():.2%} (median {np.median(val):.2%}); test accuracy
{test.min():.2%} to {test.max():.2%}.

## Build
- machine: {b.get("cpu")}, {b.get("cores")} cores, {b.get("platform")}; torch {b.get("torch")};
- {b.get("scheduler")} with {b.get("workers")} workers, {b.get("chunks")} chunks (sweep points) through
  `companion.sweep`, at niceness {b.get("niceness")} (19: the lowest priority); date {b.get("date")};
- wall time {b.get("wall_s", 0) / 60:.1f} min{" (resumed: the wall time covers the last run only)" if b.get("resumed") else ""};
  the training runs took {b.get("train_seconds_total", 0) / 60:.1f} min of wall time in total (summed over both
  workers, one thread each); both figures are inflated by the load below;
- busy-ness: the machine was shared with other developers' jobs: other processes used
  {busy if busy is not None else "an unknown number of"} cores on average during the build
  (`companion.measure.CpuMonitor`). The `latency_ms` column was measured in each chunk under that load and beside
  the other worker of the build (its `busy_other` column, median {b.get("latency_busy_other_median")} cores): it is
  documentary only, not a quiet measurement. The notebook measures latency live, on the machine that runs it.

Accuracies do not depend on the load: with the same CPU, torch version and thread count, retraining an entry
reproduces it (`make bench` checks a few).

## Files
- `table.json`: columns `{"`, `".join(table.columns)}`, one value per architecture, plus `space`,
  `protocol` and `build`; `SHA256SUMS`: its digest, checked on every load (`companion.nas.load_table`);
- rebuild: `python benchmarks/build_nas_table.py` (`companion.nas.build.build_table`).
"""


def add_build_arguments(parser) -> None:
    """The options of ``python -m companion nas build-table`` (and of ``benchmarks/build_nas_table.py``)."""
    from .table import TABLE_DIR

    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    parser.add_argument("--scheduler", help="Dask scheduler address, tcp://host:port (default: a local pool)")
    parser.add_argument("--chunks", type=int, default=32, help="sweep points the architectures are split into")
    parser.add_argument("--out", type=Path, default=TABLE_DIR, help=f"table folder (default {TABLE_DIR})")
    parser.add_argument("--work-dir", type=Path, default=Path("results") / "nas-table-build",
                        help="one folder per chunk; re-run with the same folder to resume a killed build")


def build_from_args(args) -> int:
    """Run :func:`build_table` with parsed :func:`add_build_arguments` options; print where the table went."""
    import sys

    for name, value in (("--workers", args.workers), ("--chunks", args.chunks)):
        if value is not None and value < 1:
            print(f"error: {name} must be >= 1, got {value}", file=sys.stderr)
            return 2
    path = build_table(args.out, workers=args.workers, scheduler=args.scheduler, chunks=args.chunks,
                       work_dir=args.work_dir)
    print(f"table written: {path}")
    return 0
