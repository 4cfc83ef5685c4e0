"""Architecture figures: each block's MAC ratio against its measured speed-up over the standard 3×3, the channel
shuffle's share of the ShuffleNet unit's time, the zoo's batch-1 latency, and 07_architectures' wall time.

Targets (issue 16), on a 2-core machine:
- the depthwise-separable block's measured speed-up stays below its MAC ratio (memory-bound depthwise conv);
- 07_architectures: default run <= 240 s, SMOKE <= 45 s (mini networks already in the model cache).
Speed-ups themselves are recorded, never given a target (they depend on the CPU).
"""
from __future__ import annotations

import torch

from _common import notebook_seconds, parse_args, write_bench
from companion import measure
from companion.architectures import SHUFFLE_ALONE, TimingConfig, shuffle_share, time_blocks, zoo_model


def block_figures(quick: bool) -> dict:
    cfg = (TimingConfig(channels=16, size=4, batches=(1,), threads=(1,), rounds=1, min_run_time=0.005) if quick else
           TimingConfig(channels=64, size=28, batches=(1, 32), threads=(1, None), rounds=5, min_run_time=0.1))
    rows = time_blocks(cfg)
    figures = {}
    for r in rows:
        if r["block"] == SHUFFLE_ALONE:
            continue
        key = f"{r['block']}_b{r['batch_size']}_t{r['threads']}_{r['layout']}".replace(" ", "_").replace(",", "").replace("×", "x")
        figures[f"{key}_speedup"] = {"value": r["speedup"], "unit": "x over standard 3x3 (interleaved)", "mac_ratio": r["mac_ratio"],
                                     "ms": r["ms"], "busy_other": r["busy_other"]}
        if r["block"] == "depthwise-separable 3×3":
            figures[f"{key}_speedup"] |= {"target": f"< MAC ratio {r['mac_ratio']:.2f}", "ok": r["speedup"] < r["mac_ratio"]}
    for s in shuffle_share(rows):
        figures[f"shuffle_share_b{s['batch_size']}_t{s['threads']}_{s['layout']}"] = {
            "value": s["share"], "unit": "fraction of the ShuffleNet unit's time", "note": "0 MACs"}
    return figures


def zoo_figures(quick: bool) -> dict:
    names, res = (["shufflenet_v2_x0_5"], 64) if quick else (["squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small",
                                                            "shufflenet_v2_x1_0", "efficientnet_b0", "resnet18"], 224)
    x = torch.randn(1, 3, res, res)
    table = measure.latency_table({n: zoo_model(n) for n in names}, x, reference=names[-1], rounds=1 if quick else 5,
                                  min_run_time=0.01 if quick else 0.2)
    return {f"zoo_{r['model']}_b1_ms": {"value": r["ms"], "unit": f"ms at batch 1, {res}x{res}", "speedup": r["speedup"],
                                        "reference": names[-1], "threads": r["threads"], "busy_other": r["busy_other"]}
            for r in table}


if __name__ == "__main__":
    args = parse_args(__doc__)
    figures = {**block_figures(args.quick), **zoo_figures(args.quick)}
    if not args.quick:
        default_s, smoke_s = notebook_seconds("07_architectures", {}), notebook_seconds("07_architectures", {"SMOKE": True})
        figures["default_run_s"] = {"value": default_s, "unit": "s", "target": "<= 240", "ok": default_s <= 240,
                                    "note": "mini networks from the model cache"}
        figures["smoke_run_s"] = {"value": smoke_s, "unit": "s", "target": "<= 45", "ok": smoke_s <= 45}
    write_bench("architectures", figures, quick=args.quick)
