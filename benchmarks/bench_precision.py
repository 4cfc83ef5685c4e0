"""Precision figures: stochastic-rounding speed, the low-precision optimizer's step cost, real file sizes, bf16/fp16
convolution speed, and 05_precision's wall time.

Targets (issue 15), on a 2-core machine:
- stochastic rounding of a 1 M-element float32 tensor: < 20 ms for every format (vectorised, seeded);
- 05_precision: default run <= 240 s (aim 180 s), SMOKE <= 45 s (baselines already in the model cache).
bf16/fp16 speed-ups are recorded with the CPU flags, never given a target (they depend on the CPU).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from _common import notebook_seconds, parse_args, write_bench
from companion import measure
from companion.models import LeNet300
from companion.precision import LowPrecisionSGD, channels_last, conv_layer, get_format, save_model, variants

SR_FORMATS = ("fixed<8,6>", "dfp<8>", "fixed<16,14>", "bf16", "fp16", "e4m3fn", "e5m2", "e2m1-scaled")


def rounding_figures(n: int, rounds: int) -> dict:
    x = torch.randn(n, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    figures = {}
    for name in SR_FORMATS:
        fmt = get_format(name)
        for rounding in ("stochastic", "nearest"):
            lat = measure.latency_ms(lambda t, f=fmt, r=rounding: f.quantize(t, r, g), x, min_run_time=0.1 * rounds)
            key = f"{'sr' if rounding == 'stochastic' else 'rn'}_{name}_ms"
            figures[key] = {"value": lat.median_ms, "unit": f"ms per {n:,} float32 values", "threads": lat.threads,
                            "busy_other": lat.busy_other}
            if rounding == "stochastic":
                figures[key] |= {"target": "< 20", "ok": lat.median_ms < 20}
    return figures


def optimizer_figures(rounds: int) -> dict:
    """One optimizer step on LeNet-300-100's 266,610 parameters with fixed random gradients."""
    figures = {}
    for label, fmt, rounding in [("torch_sgd", None, None), ("fixed8_rn", "fixed<8,6>", "nearest"),
                                 ("fixed8_sr", "fixed<8,6>", "stochastic"), ("bf16_sr", "bf16", "stochastic")]:
        torch.manual_seed(0)
        model = LeNet300()
        for p in model.parameters():
            p.grad = torch.randn_like(p) * 1e-3
        opt = (torch.optim.SGD(model.parameters(), lr=0.1) if fmt is None else
               LowPrecisionSGD(model.parameters(), get_format(fmt), 0.1, rounding, torch.Generator().manual_seed(0)))
        lat = measure.latency_ms(lambda _x, o=opt: o.step(), torch.zeros(1), min_run_time=0.1 * rounds)
        figures[f"optimizer_step_{label}_ms"] = {"value": lat.median_ms, "unit": "ms per step, LeNet-300-100",
                                                 "threads": lat.threads, "note": "with the changed-weight and |update|/LSB statistics"
                                                 if fmt else "torch.optim.SGD, for comparison"}
    return figures


def file_figures() -> dict:
    torch.manual_seed(0)
    model = LeNet300()
    figures = {}
    with tempfile.TemporaryDirectory() as d:
        fp32 = measure.size_bytes(save_model(model, Path(d) / "fp32.pt", "fp32")).bytes
        for name in ("fp16", "bf16", "e4m3fn", "dfp<12>", "dfp<8>", "e2m3", "dfp<4>", "e2m1-scaled"):
            size = measure.size_bytes(save_model(model, Path(d) / "m.pt", name)).bytes
            figures[f"lenet300_{name}_ratio"] = {"value": fp32 / size, "unit": "x (fp32 file / this file)", "bytes": size}
    return figures


def conv_figures(batch: int, rounds: int) -> dict:
    conv = conv_layer(64)
    x = torch.randn(batch, 64, 28, 28, generator=torch.Generator().manual_seed(0))
    figures = {"cpu_flags": {"value": " ".join(f for f, on in measure.cpu_flags().items() if on) or "none", "unit": "flags"}}
    for layout, (m, xin) in {"nchw": (conv, x), "channels_last": channels_last(conv, x)}.items():
        models, inputs = variants(m, xin)
        for row in measure.latency_table(models, xin, reference="fp32", rounds=rounds, min_run_time=0.05, inputs=inputs):
            if row["model"] != "fp32":
                figures[f"conv64_{layout}_b{batch}_{row['model']}_speedup"] = {
                    "value": row["speedup"], "unit": "x (fp32 ms / this ms), interleaved", "ms": row["ms"],
                    "threads": row["threads"], "busy_other": row["busy_other"], "note": "recorded, not a target"}
    return figures


if __name__ == "__main__":
    args = parse_args(__doc__)
    rounds = 1 if args.quick else 5
    figures = {**rounding_figures(10_000 if args.quick else 1_000_000, rounds), **optimizer_figures(rounds),
               **file_figures(), **conv_figures(4 if args.quick else 128, rounds)}
    if not args.quick:
        default_s, smoke_s = notebook_seconds("05_precision", {}), notebook_seconds("05_precision", {"SMOKE": True})
        figures["default_run_s"] = {"value": default_s, "unit": "s", "target": "<= 240 (aim 180)", "ok": default_s <= 240,
                                    "note": "baselines from the model cache"}
        figures["smoke_run_s"] = {"value": smoke_s, "unit": "s", "target": "<= 45", "ok": smoke_s <= 45}
    write_bench("precision", figures, quick=args.quick)
