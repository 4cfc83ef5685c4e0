"""NAS figures: the shipped table re-checked by retraining random entries, the table build's parallel speed-up
through the sweep engine, and 08_nas's wall time.

- ``retrain_max_gap``: a few random architectures retrained with the table's exact protocol; each must agree
  with the table within ``TOLERANCE`` (2 accuracy points; on the build's CPU and torch version the agreement is
  exact, other CPUs round differently);
- ``build_ratio``: a small build (16 architectures in 4 sweep points) with 2 local workers against 1 (target
  <= 0.6 on 2 quiet cores);
- ``default_run_s`` (target <= 300 s on 2 cores) and ``smoke_run_s`` (<= 45 s).

``--quick`` retrains one entry and skips the timed runs.
"""
import tempfile
import time

import numpy as np

from _common import notebook_seconds, parse_args, write_bench
from companion.data import load_dataset
from companion.nas import Protocol, load_table, split, train_arch
from companion.nas.build import run_chunks

TOLERANCE = 0.02


def retrain_figures(entries: int, seed: int = 0) -> dict:
    table = load_table()
    protocol = Protocol(**table.protocol)
    splits = load_dataset(protocol.dataset)
    data = split(splits, protocol)
    picks = np.random.default_rng(seed).choice(table.size, entries, replace=False)
    gaps = {}
    for i in picks:
        _, scores = train_arch(table.space, table.space.decode(int(i)), splits, protocol, data=data)
        gaps[table.space.name(table.space.decode(int(i)))] = {
            "live_val": scores["val_accuracy"], "table_val": table.value(int(i)),
            "live_test": scores["test_accuracy"], "table_test": table.value(int(i), "test_accuracy")}
    worst = max(max(abs(g["live_val"] - g["table_val"]), abs(g["live_test"] - g["table_test"])) for g in gaps.values())
    return {"retrain_max_gap": {"value": worst, "unit": "accuracy (fraction)", "target": f"<= {TOLERANCE}",
                                "ok": worst <= TOLERANCE, "entries": gaps}}


def build_ratio() -> dict:
    """Wall time of the same small build (16 architectures, 4 chunks) with 2 workers and with 1."""
    walls = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="bench-nas-build-") as work:
            start = time.perf_counter()
            result = run_chunks(work, chunks=4, workers=workers, indices=range(0, 512, 32), echo=lambda *a: None)
            walls[workers] = time.perf_counter() - start
            if result.exit_code:
                raise RuntimeError(f"the build with {workers} workers failed: {result.failed}")
    ratio = walls[2] / walls[1]
    return {"build_serial_s": {"value": walls[1], "unit": "s", "what": "16 architectures, 4 sweep points, 1 worker"},
            "build_parallel_s": {"value": walls[2], "unit": "s", "what": "the same with 2 local workers"},
            "build_ratio": {"value": ratio, "unit": "parallel / serial wall time", "target": "<= 0.6", "ok": ratio <= 0.6}}


if __name__ == "__main__":
    args = parse_args(__doc__)
    figures = retrain_figures(1 if args.quick else 3)
    if not args.quick:
        figures.update(build_ratio())
        default_s = notebook_seconds("08_nas", {})
        smoke_s = notebook_seconds("08_nas", {"SMOKE": True})
        figures["default_run_s"] = {"value": default_s, "unit": "s", "target": "<= 300", "ok": default_s <= 300,
                                    "note": "LeNet-5 baseline and retrained finalists from the model cache after the first run"}
        figures["smoke_run_s"] = {"value": smoke_s, "unit": "s", "target": "<= 45", "ok": smoke_s <= 45}
    write_bench("nas", figures, quick=args.quick)
    if not figures["retrain_max_gap"]["ok"]:
        raise SystemExit(f"retrained table entries disagree with the table by {figures['retrain_max_gap']['value']:.3f} "
                         f"(> {TOLERANCE}): {figures['retrain_max_gap']['entries']}")
