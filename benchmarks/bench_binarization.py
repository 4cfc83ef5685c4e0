"""Packed binary layers and the packed BNN of 06 against fp32 PyTorch, at equal threads, and 06's wall time.

Targets (issue 13; quiet machine, equal threads on both sides, interleaved in one run):
- binary linear 1024→1024: >= 12× at batch 1, >= 10× at batch 32;
- binary 3×3 convolution 128→128 on 16×16: >= 6× at batch 1, >= 4× at batch 32;
- the whole packed BNN of 06 against its float model: >= 3× at batch 1;
- 06_binarization at default parameters <= 300 s, with SMOKE=True <= 45 s (issue 7).

A layer is timed in four forms in one ``measure.latency_table`` run (median of per-round ratios, ``busy_other``
recorded): fp32 PyTorch; the packed layer as a drop-in (float in, signs packed, XNOR-popcount, float out: the
figure the targets are judged on); the kernel alone (input already packed, integers out); the binary block
(bits in, batch norm + sign as thresholds, bits out: what a layer costs between two binary layers); and an empty
module (the cost of any call in the harness, the floor under a small layer's time). Every case
runs at 1 thread and at all cores; the numba kernels follow PyTorch's thread count. The time breakdown of the
packed BNN (packing, kernels, thresholds, full-precision layers, glue) is written too.

Usage: ``python benchmarks/bench_binarization.py [--quick]`` (``--quick``: one round, no notebook runs).
"""
import os
import tempfile

import torch

from _common import notebook_seconds, parse_args, write_bench
from companion.binarization import (BinarizeConfig, BinaryConv2d, BinaryLinear, BinaryNet, PackedBNN, report,
                                    sign, to_packed)
from companion.measure import latency_table, usable_cores

LAYERS = {  # name: (kind, c_in, c_out, batch, target of the drop-in packed layer)
    "linear_1024_b1": ("linear", 1024, 1024, 1, 12), "linear_1024_b32": ("linear", 1024, 1024, 32, 10),
    "conv_128_16x16_b1": ("conv", 128, 128, 1, 6), "conv_128_16x16_b32": ("conv", 128, 128, 32, 4),
}
DROP_IN = "packed layer (float in, float out)"


def binary_layer(kind: str, cin: int, cout: int, batch: int):
    """A BNN layer (sign weights and activations) of the case's shape, and an input for it."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        if kind == "linear":
            return BinaryLinear(cin, cout, "sign", "sign").eval(), torch.randn(batch, cin)
        return BinaryConv2d(cin, cout, 3, 1, 1, "sign", "sign").eval(), torch.randn(batch, cin, 16, 16)


def layer_figures(name: str, case: tuple, threads: int, rounds: int, min_run_time: float) -> dict:
    kind, cin, cout, batch, target = case
    layer, x = binary_layer(kind, cin, cout, batch)
    forms = report.layer_forms(layer, x, floor=True)
    with torch.no_grad():
        ref = (torch.nn.functional.linear(sign(x), sign(layer.weight)) if kind == "linear" else
               torch.nn.functional.conv2d(sign(x), sign(layer.weight), padding=1))
        exact = torch.equal(forms[DROP_IN](x), ref)
    rows = {r["model"]: r for r in latency_table(forms, x, rounds=rounds, min_run_time=min_run_time, threads=threads)}
    base, drop_in = rows["fp32 PyTorch"], rows[DROP_IN]
    conditions = {"threads": threads, "batch": batch, "busy_other": base["busy_other"], "quiet": base["quiet"]}
    figures = {f"{name}_t{threads}_speedup": {
        "value": drop_in["speedup"], "unit": "x (fp32 ms / packed layer ms)", "fp32_ms": base["ms"],
        "packed_ms": drop_in["ms"], "exact": exact, **conditions,
        "target": f">= {target}", "ok": drop_in["speedup"] >= target}}
    figures[f"{name}_t{threads}_call_floor_ms"] = {
        "value": rows[report.EMPTY_CALL]["ms"], "unit": "ms", **conditions,
        "note": "an empty module in the same harness: the cost of any call, the floor under the packed layer's ms"}
    for label, key in (("kernel (bits in, integers out)", "kernel"), ("binary block (bits in, bits out)", "block")):
        figures[f"{name}_t{threads}_{key}_speedup"] = {"value": rows[label]["speedup"], "unit": "x",
                                                       "ms": rows[label]["ms"], "note": label, **conditions}
    return figures


def bnn_pair():
    """The float model of 06 and its BNN (default shapes), batch norms with trained-looking statistics."""
    models = {}
    for method in ("float", "bnn"):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = BinaryNet(BinarizeConfig(method))
            with torch.no_grad():
                for bn in (model.bn1, model.bn2, model.bn3):
                    bn.running_mean.uniform_(-2, 2)
                    bn.running_var.uniform_(0.5, 4)
        models[method] = model.eval()
    return models["float"], models["bnn"]


def network_figures(threads: int, rounds: int, min_run_time: float) -> dict:
    flt, bnn = bnn_pair()
    packed, figures = PackedBNN(bnn), {}
    for batch, target in ((1, 3), (32, None)):
        x = torch.randn(batch, 1, 28, 28)
        with torch.no_grad():
            exact = torch.equal(packed(x), bnn(x))
        models = {"float model": flt, "packed BNN (bits to bits)": packed, "packed layers (float between)": to_packed(bnn),
                  "BNN in PyTorch (float ±1)": bnn}
        rows = {r["model"]: r for r in latency_table(models, x, rounds=rounds, min_run_time=min_run_time,
                                                     threads=threads)}
        base, best = rows["float model"], rows["packed BNN (bits to bits)"]
        conditions = {"threads": threads, "batch": batch, "busy_other": base["busy_other"], "quiet": base["quiet"]}
        figures[f"bnn_b{batch}_t{threads}_speedup"] = {
            "value": best["speedup"], "unit": "x (float model ms / packed BNN ms)", "float_ms": base["ms"],
            "packed_ms": best["ms"], "exact": exact, **conditions,
            **({"target": f">= {target}", "ok": best["speedup"] >= target} if target else {}),
            "others": {label: {"ms": r["ms"], "speedup": r["speedup"]} for label, r in rows.items()}}
        split = report.time_breakdown(packed, x, rounds=rounds, min_run_time=min_run_time, threads=threads)
        figures[f"bnn_b{batch}_t{threads}_breakdown"] = {
            "value": split["whole_ms"], "unit": "ms (whole forward)", **conditions,
            "stages": {r["stage"]: {"kind": r["kind"], "ms": r["ms"], "share": r["share"]} for r in split["stages"]}}
    return figures


if __name__ == "__main__":
    args = parse_args(__doc__)
    rounds, min_run_time = (1, 0.005) if args.quick else (11, 0.1)
    figures = {}
    for threads in sorted({1, usable_cores()}):
        for name, case in LAYERS.items():
            figures.update(layer_figures(name, case, threads, rounds, min_run_time))
        figures.update(network_figures(threads, rounds, min_run_time))
    if not args.quick:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["COMPANION_CACHE"] = cache
            default_s = notebook_seconds("06_binarization", {})
            smoke_s = notebook_seconds("06_binarization", {"SMOKE": True})
        figures["notebook_default_s"] = {"value": default_s, "unit": "s", "target": "<= 300", "ok": default_s <= 300}
        figures["notebook_smoke_s"] = {"value": smoke_s, "unit": "s", "target": "<= 45", "ok": smoke_s <= 45}
    write_bench("binarization", figures, quick=args.quick)
