"""Pruning figures: CSR vs dense latency of a large FC layer, sparse-file size, and 02_pruning's wall time.

Targets (issue 5): default run <= 300 s (aim: <= 150 s), SMOKE <= 30 s (aim: <= 20 s) on 2 CPU cores,
with the dense baselines already in the cache (00_baseline trains them first).
"""
import os
import tempfile
import time
from pathlib import Path

import papermill as pm
import torch

from _common import ROOT, notebook_seconds, write_bench
from companion.measure import compare_latency, size_bytes
from companion.models import LeNet300
from companion.pruning import PruneConfig, prune_
from companion.pruning import save_sparse, to_sparse_linear


def timed_run(parameters: dict) -> float:
    return notebook_seconds("02_pruning", parameters)


def csr_figures(size: int = 4096) -> dict:
    figures = {}
    for sparsity in (0.7, 0.9, 0.95, 0.98):
        fc = torch.nn.Sequential(torch.nn.Linear(size, size))
        prune_(fc, PruneConfig(sparsity))
        csr = to_sparse_linear(fc)
        for batch in (1, 64):
            r = compare_latency(fc, csr, torch.randn(batch, size), rounds=5, min_run_time=0.2)
            figures[f"csr_speedup_fc{size}_s{sparsity}_b{batch}"] = {
                "value": r["speedup"], "unit": "x (dense ms / CSR ms)", "dense_ms": r["baseline_ms"],
                "csr_ms": r["candidate_ms"], "threads": r["threads"]}
    return figures


def file_figures() -> dict:
    figures = {}
    torch.manual_seed(0)
    for sparsity in (0.9, 0.95, 0.98):
        model = LeNet300()
        prune_(model, PruneConfig(sparsity, scope="global"))
        with tempfile.TemporaryDirectory() as d:
            for bits in (5, 8):
                path = save_sparse(model, Path(d) / "m.cspz", index_bits=bits)
                figures[f"lenet300_s{sparsity}_{bits}bit_ratio"] = {
                    "value": size_bytes(model).bytes / path.stat().st_size, "unit": "x (dense state_dict / sparse file)",
                    "file_bytes": path.stat().st_size}
    return figures


if __name__ == "__main__":
    figures = {**file_figures(), **csr_figures()}
    default_s = timed_run({})
    smoke_s = timed_run({"SMOKE": True})
    figures["default_run_s"] = {"value": default_s, "unit": "s", "target": "<= 300 (aim 150)", "ok": default_s <= 300,
                                "note": "baselines from the model cache"}
    figures["smoke_run_s"] = {"value": smoke_s, "unit": "s", "target": "<= 30 (aim 20)", "ok": smoke_s <= 30}
    write_bench("pruning", figures)
