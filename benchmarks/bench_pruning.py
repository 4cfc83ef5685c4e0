"""Pruning figures: CSR vs dense latency of a large FC layer, sparse-file size, and 02_pruning's wall time.

Targets (issue 5): default run <= 300 s (aim: <= 150 s), SMOKE <= 30 s (aim: <= 20 s) on 2 CPU cores,
with the dense baselines already in the cache (00_baseline trains them first). ``--quick``: a 256×256 layer,
one sparsity, one round and no notebook runs — a check that the script works, not a figure.
"""
import tempfile
from pathlib import Path

import torch

from _common import notebook_seconds, parse_args, write_bench
from companion.measure import compare_latency, size_bytes
from companion.models import LeNet300
from companion.pruning import PruneConfig, prune_, save_sparse, to_sparse_linear


def csr_figures(size: int = 4096, sparsities=(0.7, 0.9, 0.95, 0.98), rounds: int = 5, min_run_time: float = 0.2) -> dict:
    """Dense ``nn.Linear`` against CSR ``SparseLinear`` at batch 1 and 64, interleaved, at PyTorch's thread count."""
    figures = {}
    for sparsity in sparsities:
        fc = torch.nn.Sequential(torch.nn.Linear(size, size))
        prune_(fc, PruneConfig(sparsity))
        csr = to_sparse_linear(fc)
        for batch in (1, 64):
            r = compare_latency(fc, csr, torch.randn(batch, size), rounds=rounds, min_run_time=min_run_time)
            figures[f"csr_speedup_fc{size}_s{sparsity}_b{batch}"] = {
                "value": r["speedup"], "unit": "x (dense ms / CSR ms)", "dense_ms": r["baseline_ms"],
                "csr_ms": r["candidate_ms"], "threads": r["threads"], "busy_other": r["busy_other"]}
    return figures


def file_figures(sparsities=(0.9, 0.95, 0.98)) -> dict:
    """Dense ``state_dict`` bytes over the sparse file's, with 5- and 8-bit relative indices (exact byte counts)."""
    figures = {}
    torch.manual_seed(0)
    for sparsity in sparsities:
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
    args = parse_args(__doc__)
    if args.quick:
        figures = {**file_figures((0.9,)), **csr_figures(256, (0.9,), rounds=1, min_run_time=0.01)}
    else:
        figures = {**file_figures(), **csr_figures()}
        default_s = notebook_seconds("02_pruning", {})
        smoke_s = notebook_seconds("02_pruning", {"SMOKE": True})
        figures["default_run_s"] = {"value": default_s, "unit": "s", "target": "<= 300 (aim 150)", "ok": default_s <= 300,
                                    "note": "baselines from the model cache"}
        figures["smoke_run_s"] = {"value": smoke_s, "unit": "s", "target": "<= 30 (aim 20)", "ok": smoke_s <= 30}
    write_bench("pruning", figures, quick=args.quick)
