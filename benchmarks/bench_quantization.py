"""Quantization figures: int8 vs fp32 latency per engine, Deep Compression's ratio, 03_quantization's wall time.

Targets (issue 6), on a 2-core machine:
- int8 vs fp32 latency at batch 1, best engine: >= 1.5x on ResNet-18 and MobileNetV2 at 224x224
  (random weights; every available engine is recorded, with the CPU's int8-relevant flags);
- Deep Compression of LeNet-300-100: >= 30x smaller on disk, <= 1.5 points of accuracy lost;
- 03_quantization: default run <= 300 s, SMOKE <= 45 s (baselines already in the model cache).

    python benchmarks/bench_quantization.py [--rounds 7] [--min-run-time 0.5] [--skip-notebook]
"""
from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import papermill as pm
import torch
import torchvision

from _common import ROOT, notebook_seconds, write_bench
from companion.quantization import deep_compression as dc
from companion.quantization import int8
from companion.data import load_dataset
from companion.measure import compare_latency, size_bytes
from companion.train import baseline, evaluate

def engine_figures(rounds: int, min_run_time: float) -> dict:
    figures = {}
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    calib = [torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(1))]
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("resnet18", "mobilenet_v2"):
            net = torchvision.models.get_model(name, weights=None).eval()
            best = None
            for engine in int8.available_engines():
                q, path = int8.convert(net, engine, calib, tmp, name)
                r = compare_latency(net, q, x, rounds=rounds, min_run_time=min_run_time)
                figures[f"{name}_int8_speedup_b1_{engine}"] = {
                    "value": r["speedup"], "unit": "x (PyTorch fp32 ms / int8 ms), batch 1, 224x224", "engine": engine,
                    "fp32_ms": r["baseline_ms"], "int8_ms": r["candidate_ms"], "threads": r["threads"],
                    "int8_bytes": size_bytes(path).bytes, "fp32_bytes": size_bytes(net).bytes}
                best = max(best or (0, ""), (r["speedup"], engine))
                if engine == int8.ORT:
                    ort32 = int8.OrtModel(Path(tmp) / f"{name}.onnx")
                    r = compare_latency(net, ort32, x, rounds=rounds, min_run_time=min_run_time)
                    figures[f"{name}_onnxruntime_fp32_speedup_b1"] = {
                        "value": r["speedup"], "unit": "x (PyTorch fp32 ms / ONNX Runtime fp32 ms), batch 1",
                        "fp32_ms": r["baseline_ms"], "ort_fp32_ms": r["candidate_ms"]}
            figures[f"{name}_int8_speedup_b1_best"] = {"value": best[0], "unit": "x, batch 1", "engine": best[1],
                                                       "target": ">= 1.5", "ok": best[0] >= 1.5}
    return figures


def deep_compression_figures() -> dict:
    splits = load_dataset("fashion-mnist-mini")
    dense, _ = baseline("lenet300", splits, device="cpu")
    model, cfg = copy.deepcopy(dense), dc.DeepCompressionConfig()
    dc.prune_retrain_(model, splits.train, cfg)
    pruned = copy.deepcopy(model)
    dc.share_retrain_(model, splits.train, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        stages = dc.stage_files(dense, pruned, model, tmp, "lenet300")
        restored = copy.deepcopy(dense)
        restored.load_state_dict(dc.load_compressed(stages[-1]["path"]))
        loss = evaluate(dense, splits.test) - evaluate(restored, splits.test)
    figures = {f"lenet300_bytes_{i}_{s['stage']}": {"value": s["bytes"], "unit": "bytes", "ratio": s["ratio"]}
               for i, s in enumerate(stages)}
    figures["lenet300_deep_compression_ratio"] = {"value": stages[-1]["ratio"], "unit": "x (dense file / Huffman file)",
                                                  "target": ">= 30 (paper: 40)", "ok": stages[-1]["ratio"] >= 30,
                                                  "setting": str(cfg)}
    figures["lenet300_deep_compression_accuracy_loss"] = {"value": loss, "unit": "accuracy (fraction)",
                                                          "target": "<= 0.015", "ok": loss <= 0.015}
    return figures


def timed_run(parameters: dict) -> float:
    return notebook_seconds("03_quantization", parameters)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved fp32/int8 rounds per comparison")
    ap.add_argument("--min-run-time", type=float, default=0.5, help="seconds of timed runs per measurement")
    ap.add_argument("--skip-notebook", action="store_true", help="do not time the notebook runs")
    args = ap.parse_args()
    flags = int8.cpu_flags()
    figures = {"cpu_flags": {"value": sum(flags.values()), "unit": "int8-relevant flags present", **flags}}
    figures.update(engine_figures(args.rounds, args.min_run_time))
    figures.update(deep_compression_figures())
    if not args.skip_notebook:
        default_s, smoke_s = timed_run({}), timed_run({"SMOKE": True})
        figures["default_run_s"] = {"value": default_s, "unit": "s", "target": "<= 300", "ok": default_s <= 300,
                                    "note": "baselines from the model cache"}
        figures["smoke_run_s"] = {"value": smoke_s, "unit": "s", "target": "<= 45", "ok": smoke_s <= 45}
    write_bench("quantization", figures)


if __name__ == "__main__":
    main()
