"""Hashing figures: the decompress-mode forward against dense, the cost of materialising a hashed matrix, the
gather and rehash modes, and 04_hashing's wall time.

Targets (issue 14), on a 2-core machine:
- HashedNets LeNet-300-100 at 1/64 in "decompress" mode: forward within 1.2× of the dense net (batch 1 and 64);
- materialising a 784×300 hashed matrix from scratch (hash + gather + sign): < 5 ms;
- 04_hashing: default run <= 240 s, SMOKE <= 45 s (dense baselines already in the model cache).
The gather and rehash modes are recorded without a target: they are the price of not materialising.
"""
from __future__ import annotations

import torch

from _common import notebook_seconds, parse_args, write_bench
from companion import measure
from companion.hashing import HashedLinear, build, set_mode
from companion.models import LeNet300


def mode_figures(batches: list[int], rounds: int, min_run_time: float) -> dict:
    torch.manual_seed(0)
    dense = LeNet300().eval()
    modes = {}
    for mode in ("decompress", "gather", "rehash"):
        m = build(kind="hashed", compression=1 / 64)
        modes[mode] = set_mode(m, mode).eval()
    figures = {}
    for b in batches:
        x = torch.randn(b, 1, 28, 28)
        table = measure.latency_table({"dense": dense, **modes}, x, rounds=rounds, min_run_time=min_run_time)
        for r in table[1:]:
            key = f"{r['model']}_vs_dense_batch{b}"
            figures[key] = {"value": 1 / r["speedup"], "unit": "× dense LeNet-300-100 time (median of per-round ratios)",
                            "threads": r["threads"], "busy_other": r["busy_other"]}
            if r["model"] == "decompress":
                figures[key] |= {"target": "<= 1.2", "ok": 1 / r["speedup"] <= 1.2}
    return figures


def materialise_figure(rounds: int) -> dict:
    layer = HashedLinear(784, 300, compression=1 / 64)
    layer.hashed.mode = "rehash"  # materialise() then recomputes the hash every call
    lat = measure.latency_ms(lambda _x: layer.hashed.materialise(), torch.zeros(1), min_run_time=0.1 * rounds)
    return {"materialise_784x300_ms": {"value": lat.median_ms, "unit": "ms per 784×300 matrix (hash, gather, sign)",
                                       "target": "< 5", "ok": lat.median_ms < 5, "threads": lat.threads,
                                       "busy_other": lat.busy_other}}


def main(argv=None):
    args = parse_args(__doc__, argv)
    rounds = 1 if args.quick else 5
    figures = {**mode_figures([1, 4] if args.quick else [1, 64], rounds, 0.01 if args.quick else 0.2),
               **materialise_figure(rounds)}
    if not args.quick:
        default_s, smoke_s = notebook_seconds("04_hashing", {}), notebook_seconds("04_hashing", {"SMOKE": True})
        figures["notebook_default_s"] = {"value": default_s, "unit": "s", "target": "<= 240", "ok": default_s <= 240}
        figures["notebook_smoke_s"] = {"value": smoke_s, "unit": "s", "target": "<= 45", "ok": smoke_s <= 45}
    write_bench("hashing", figures, quick=args.quick)


if __name__ == "__main__":
    main()
