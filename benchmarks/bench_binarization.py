"""Packed XNOR-popcount layers against the same layers in fp32 PyTorch, and the notebook's wall time.

Targets (issue 7), on 2 CPU cores:
- binary linear 1024→1024 at batch 1: >= 10× faster than fp32 PyTorch;
- binary 3×3 convolution 128→128 on 16×16 at batch 1: >= 4× faster than fp32 PyTorch;
- 06_binarization at default parameters <= 300 s, with SMOKE=True <= 45 s.

The packed layer is timed end to end (float input → signs packed → XNOR/popcount → float output);
the kernel alone (input already packed, int32 output) is recorded beside it. PyTorch runs on its
default threads (2 here; the targets), and again on one thread like the numba kernels. Every ratio
is measured in one interleaved run (``compare_latency``); the load average is recorded because the
machine may be shared.

Usage: ``python benchmarks/bench_binarization.py [--no-notebook]``
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import ROOT, notebook_seconds, write_bench
from companion.binarization import kernels as bitpack
from companion.binarization.packed import PackedLayer
from companion.measure import torch_threads
from companion.binarization import BinaryConv2d, BinaryLinear, sign
from companion.measure import compare_latency

ROUNDS, MIN_RUN_TIME = 7, 0.1


def layer_pair(kind: str, cin: int, cout: int):
    """An fp32 PyTorch layer and the packed form of a BNN layer of the same shape (same latent weights)."""
    torch.manual_seed(0)
    if kind == "linear":
        fp32, binary = torch.nn.Linear(cin, cout, bias=False), BinaryLinear(cin, cout, "sign", "sign")
    else:
        fp32 = torch.nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        binary = BinaryConv2d(cin, cout, 3, 1, 1, "sign", "sign")
    binary.weight.data.copy_(fp32.weight.data)
    return fp32.eval(), PackedLayer(binary)


def measure(kind: str, cin: int, cout: int, batch: int, size: int = 16) -> dict:
    fp32, packed = layer_pair(kind, cin, cout)
    x = torch.randn(batch, cin) if kind == "linear" else torch.randn(batch, cin, size, size)
    with torch.no_grad():
        exact = torch.equal(packed(x), float_reference(kind, x, fp32.weight))
    end_to_end = compare_latency(fp32, packed, x, rounds=ROUNDS, min_run_time=MIN_RUN_TIME)
    with torch_threads(1):  # the same thread count as the numba kernels: robust to a busy machine
        one_thread = compare_latency(fp32, packed, x, rounds=ROUNDS, min_run_time=MIN_RUN_TIME)
    xp = bitpack.pack_signs(x) if kind == "linear" else bitpack.pack_signs_nchw(x)
    w = packed.planes["sign"]
    kernel = (lambda _: bitpack.xnor_linear(xp, w, cin)) if kind == "linear" else \
        (lambda _: bitpack.xnor_conv2d(xp, w, cin, 1, 1))
    kernel_only = compare_latency(fp32, kernel, x, rounds=ROUNDS, min_run_time=MIN_RUN_TIME)
    return {"fp32_ms": end_to_end["baseline_ms"], "packed_ms": end_to_end["candidate_ms"],
            "speedup": end_to_end["speedup"], "kernel_ms": kernel_only["candidate_ms"],
            "kernel_speedup": kernel_only["speedup"], "exact": exact, "torch_threads": end_to_end["threads"],
            "speedup_1thread": one_thread["speedup"], "fp32_1thread_ms": one_thread["baseline_ms"]}


def float_reference(kind, x, w):
    """The float ±1 computation the packed layer must reproduce."""
    f = torch.nn.functional
    return f.linear(sign(x), sign(w)) if kind == "linear" else f.conv2d(sign(x), sign(w), padding=1)


def notebook_seconds(parameters: dict) -> float:
    return notebook_seconds("06_binarization", parameters)


if __name__ == "__main__":
    load_before = os.getloadavg()
    bitpack.xnor_linear(bitpack.pack_signs(torch.randn(1, 64)), bitpack.pack_signs(torch.randn(1, 64)), 64)
    cases = {"linear_1024_b1": ("linear", 1024, 1024, 1, 10), "linear_1024_b32": ("linear", 1024, 1024, 32, None),
             "linear_4096_b1": ("linear", 4096, 4096, 1, None),
             "conv_128_16x16_b1": ("conv", 128, 128, 1, 4), "conv_128_16x16_b32": ("conv", 128, 128, 32, None)}
    figures = {}
    for name, (kind, cin, cout, batch, target) in cases.items():
        m = measure(kind, cin, cout, batch)
        figures[f"{name}_speedup"] = {"value": m["speedup"], "unit": "x", "fp32_ms": m["fp32_ms"],
                                      "packed_ms": m["packed_ms"], "exact": m["exact"],
                                      "torch_threads": m["torch_threads"], "numba_threads": 1,
                                      **({"target": f">= {target}", "ok": m["speedup"] >= target} if target else {})}
        figures[f"{name}_speedup_torch_1thread"] = {"value": m["speedup_1thread"], "unit": "x",
                                                    "fp32_ms": m["fp32_1thread_ms"],
                                                    "note": "fp32 PyTorch on 1 thread, like the numba kernel"}
        figures[f"{name}_kernel_only_speedup"] = {"value": m["kernel_speedup"], "unit": "x",
                                                  "kernel_ms": m["kernel_ms"],
                                                  "note": "input already packed, int32 output"}
    if "--no-notebook" not in sys.argv:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["COMPANION_CACHE"] = cache
            default_s = notebook_seconds({})
            smoke_s = notebook_seconds({"SMOKE": True})
        figures["notebook_default_s"] = {"value": default_s, "unit": "s", "target": "<= 300", "ok": default_s <= 300}
        figures["notebook_smoke_s"] = {"value": smoke_s, "unit": "s", "target": "<= 45", "ok": smoke_s <= 45}
    figures["load_average_1min"] = {"value": os.getloadavg()[0], "unit": "processes",
                                    "before": load_before[0], "note": "2 cores; above 2 the machine was shared"}
    write_bench("binarization", figures)
