"""Sweep speed-up: the same grid of CPU-bound points run serially and on a local pool of 2 workers.

Each point executes tests/notebooks/sweep_tiny.ipynb with ``BUSY`` seconds of CPU-bound busy loop (on top
of starting papermill, a kernel and importing torch, also CPU-bound). Writes results/bench/sweep.json:
both wall times, their ratio (target: at most 0.65 on a 2-core machine) and the load average around each
run, since on a shared machine other processes take cores from both runs.

    python benchmarks/bench_sweep.py [--points 4] [--busy 3] [--rounds 1] [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _common import ROOT, write_bench
from companion.measure import CpuMonitor
from companion.sweep import sweep

NOTEBOOK = ROOT / "tests" / "sweep" / "fixtures" / "sweep_tiny.ipynb"


def timed_sweep(workers: int, points: int, busy: float) -> dict:
    """Wall time of one fresh sweep of ``points`` points with ``workers`` local workers."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as out:
        load = os.getloadavg()[0]
        monitor = CpuMonitor().start()  # the sweep's points are our children: what is left is other load
        start = time.perf_counter()
        result = sweep(NOTEBOOK, {"X": list(range(1, points + 1)), "BUSY": [busy]}, workers=workers, out=out,
                       echo=lambda *a: None)
        wall = time.perf_counter() - start
        busy_other = monitor.stop()
        if result.exit_code:
            raise RuntimeError(f"sweep with {workers} workers failed: {result.failed}")
    return {"wall_s": wall, "load_1min_before": load, "load_1min_after": os.getloadavg()[0], "busy_other": busy_other}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--busy", type=float, default=3.0, help="seconds of CPU-bound work per point")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved serial/parallel pairs (median reported)")
    ap.add_argument("--quick", action="store_true", help="2 points of 0.2 s: a smoke test, not a figure")
    args = ap.parse_args()
    if args.quick:
        args.points, args.busy, args.rounds = 2, 0.2, 1
    runs = {"serial": [], "parallel": []}
    for _ in range(args.rounds):
        runs["serial"].append(timed_sweep(1, args.points, args.busy))
        runs["parallel"].append(timed_sweep(2, args.points, args.busy))
    serial = statistics.median(r["wall_s"] for r in runs["serial"])
    parallel = statistics.median(r["wall_s"] for r in runs["parallel"])
    ratio = parallel / serial
    write_bench("sweep", {
        "serial_wall_s": {"value": round(serial, 2), "unit": "s", "what": "grid run with --workers 1"},
        "parallel_wall_s": {"value": round(parallel, 2), "unit": "s", "what": "grid run with --workers 2"},
        "ratio": {"value": round(ratio, 3), "unit": "parallel / serial wall time", "target": "<= 0.65",
                  "ok": ratio <= 0.65, "setting": {"notebook": str(NOTEBOOK.relative_to(ROOT)), "points": args.points,
                                                   "busy_s_per_point": args.busy, "rounds": args.rounds},
                  "runs": runs},
    }, quick=args.quick)


if __name__ == "__main__":
    main()
