"""Hardware-aware search: a per-operation latency lookup table measured on this CPU, and MnasNet's reward.

FBNet (Wu et al. 2019) and ProxylessNAS (Cai et al. 2019) model a network's latency as the sum of its layers'
latencies, each measured once on the target device in the exact context (input shape, channels, stride) it
appears in: a lookup table (LUT). Here every block of the space has 4 ops × 2 widths × the possible input
widths: 40 block entries, plus the stem and the head. ``LAT(arch) ≈ stem + Σ_b LUT[b, op_b, cin_b, cout_b] +
head``; per-call overhead is inside each entry, which is what dominates networks this small.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..measure import latency_table
from .space import SearchSpace, make_op


def _resolution(space: SearchSpace, input_shape) -> list[int]:
    """Height (= width) of each block's input: the stem keeps 28, a stride-2 3×3/5×5 block halves it (rounded up)."""
    h, out = input_shape[1], []
    for s in space.strides:
        out.append(h)
        h = -(-h // s)
    return out


def lut_modules(space: SearchSpace, input_shape=(1, 28, 28), num_classes: int = 10) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """Every module a network of the space can contain, with its batch-1 input: ``{key: (module, input)}``.

    Keys: ``"stem"``, ``"b{block}:{op}:{cin}>{cout}"`` and ``"head:{cin}"`` (see :func:`lut_keys`).
    """
    from torchvision.ops import Conv2dNormActivation

    res = _resolution(space, input_shape)
    torch.manual_seed(0)  # weights do not matter for latency; fixed so the modules are the same every call
    entries = {"stem": (Conv2dNormActivation(input_shape[0], space.stem_channels, 3),
                        torch.zeros(1, *input_shape))}
    cins = {space.stem_channels}
    for b, (base, stride) in enumerate(zip(space.channels, space.strides)):
        couts = sorted({max(1, round(base * w)) for w in space.widths})
        for cin in sorted(cins):
            for op in space.ops:
                for cout in couts:
                    entries[f"b{b + 1}:{op}:{cin}>{cout}"] = (make_op(op, cin, cout, stride, space.expand_ratio),
                                                              torch.zeros(1, cin, res[b], res[b]))
        cins = set(couts)
    for cin in sorted(cins):
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))
        h = -(-res[-1] // space.strides[-1])
        entries[f"head:{cin}"] = (head, torch.zeros(1, cin, h, h))
    return {k: (m.eval(), x) for k, (m, x) in entries.items()}


def lut_keys(space: SearchSpace, arch) -> list[str]:
    """The LUT entries whose sum predicts ``arch``'s latency."""
    layers = space.layers(arch)
    return ["stem"] + [f"b{b + 1}:{op}:{cin}>{cout}" for b, (op, cin, cout, _) in enumerate(layers)] + \
        [f"head:{layers[-1][2]}"]


def measure_lut(space: SearchSpace, *, threads: int = 1, rounds: int = 3, min_run_time: float = 0.02,
                input_shape=(1, 28, 28)) -> dict:
    """Measure every LUT entry at batch 1 on ``threads`` threads, interleaved over ``rounds`` (one
    :func:`companion.measure.latency_table` run). Returns ``{"ms": {key: median ms}, "busy_other", "threads"}``."""
    entries = lut_modules(space, input_shape)
    models = {k: m for k, (m, _) in entries.items()}
    inputs = {k: x for k, (_, x) in entries.items()}
    rows = latency_table(models, next(iter(inputs.values())), inputs=inputs, rounds=rounds, min_run_time=min_run_time,
                         threads=threads)
    return {"ms": {r["model"]: r["ms"] for r in rows}, "busy_other": rows[0]["busy_other"], "threads": threads}


def predict_latency(space: SearchSpace, arch, lut: dict) -> float:
    """LUT-predicted batch-1 latency of ``arch`` in ms: the sum of its entries."""
    ms = lut["ms"] if "ms" in lut else lut
    return float(sum(ms[k] for k in lut_keys(space, arch)))


def measure_archs(space: SearchSpace, archs, *, threads: int = 1, rounds: int = 3, min_run_time: float = 0.05,
                  input_shape=(1, 28, 28)) -> list[dict]:
    """End-to-end batch-1 latency of whole networks, interleaved in one :func:`latency_table` run (untrained
    weights: latency does not depend on their values)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        models = {space.name(a): space.build(a, input_shape) for a in archs}
    return latency_table(models, torch.zeros(1, *input_shape), rounds=rounds, min_run_time=min_run_time, threads=threads)


def block_latency_matrix(space: SearchSpace, lut: dict, width: float = 1.0) -> np.ndarray:
    """(blocks, ops) LUT latencies of every op in every block when all blocks have width ``width`` (DARTS's space)."""
    if width not in space.widths:
        raise ValueError(f"width must be one of {space.widths}, got {width}")
    w = space.widths.index(width)
    ms = lut["ms"] if "ms" in lut else lut
    rows = []
    for b in range(space.blocks):
        row = []
        for o in range(len(space.ops)):
            arch = tuple(v for _ in range(space.blocks) for v in (o, w))
            row.append(ms[lut_keys(space, arch)[b + 1]])
        rows.append(row)
    return np.array(rows)


def mnas_reward(accuracy, latency, target: float, alpha: float = -0.07, beta: float = -0.07):
    """MnasNet's objective (Tan et al. 2019, eq. 2): ``ACC · (LAT / T)^w`` with w = α if LAT ≤ T else β.

    α = β = −0.07 is the soft constraint (a 2× slower model must be about 5 % more accurate to score the same);
    α = 0, β = −1 is the hard one. Works on scalars and numpy arrays.
    """
    if not target > 0:
        raise ValueError(f"target latency must be > 0 ms, got {target}")
    accuracy, latency = np.asarray(accuracy, float), np.asarray(latency, float)
    w = np.where(latency <= target, alpha, beta)
    out = accuracy * (latency / target) ** w
    return float(out) if out.ndim == 0 else out
