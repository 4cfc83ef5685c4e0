"""Why mixed-precision training scales the loss (Micikevicius et al. 2018): fp16 gradients underflow.

fp16's smallest subnormal is 2^-24 ≈ 6e-8 and its smallest normal 2^-14 ≈ 6e-5; many gradients of a trained
network are smaller, and stored in fp16 they become 0 (or lose their precision as subnormals). Multiplying the
loss by ``S`` multiplies every gradient by ``S`` (the chain rule is linear), shifting them into fp16's range;
the optimizer divides by ``S`` again in float32. Too large an ``S`` overflows fp16's maximum (65504) to inf,
which dynamic loss scaling detects and answers by halving ``S`` (``torch.amp.GradScaler`` does this).

Here the float32 gradients are computed once and ``S · g`` is cast to fp16 for each ``S``; since ``S`` is a
power of two, that is exactly what an fp16 gradient of the scaled loss would store, up to fp16's rounding
inside the backward pass itself.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..layers import find_layers


def gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    """float32 gradients of the mean cross-entropy on ``(x, y)``: ``{"weights": {param: grad},
    "activations": {layer: grad of its output}}`` for every Conv2d/Linear layer.

    Uses ``torch.autograd.grad``, so the model's ``.grad`` fields are not touched.
    """
    outputs, hooks = {}, []
    for name, layer in find_layers(model).items():
        hooks.append(layer.register_forward_hook(lambda m, i, out, name=name: outputs.__setitem__(name, out)))
    try:
        loss = nn.functional.cross_entropy(model(x), y)
    finally:
        for h in hooks:
            h.remove()
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()) + list(outputs.values()))
    n = len(params)
    return {"weights": dict(zip(params, grads[:n])), "activations": dict(zip(outputs, grads[n:]))}


def cast_counts(g: torch.Tensor, scale: float, dtype=torch.float16) -> dict:
    """What storing ``scale · g`` in ``dtype`` does to the non-zero values of ``g``.

    ``underflow``: became 0; ``subnormal``: below ``dtype``'s smallest normal (precision lost); ``overflow``:
    became ±inf; ``rel_error``: the mean of ``|fp32(dtype(S·g))/S − g| / |g|``.
    """
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    g = g.detach().float().reshape(-1)
    g = g[g != 0]
    stored = (g * scale).to(dtype)
    back = stored.float() / scale
    finite = torch.isfinite(stored)
    rel = ((back - g).abs() / g.abs())[finite]
    tiny = torch.finfo(dtype).tiny
    return {"values": g.numel(), "underflow": int((stored == 0).sum()), "overflow": int((~finite).sum()),
            "subnormal": int(((stored != 0) & (stored.abs() < tiny)).sum()),
            "rel_error": float(rel.mean()) if rel.numel() else 0.0}


def loss_scale_table(grads: dict[str, dict[str, torch.Tensor]], scales, dtype=torch.float16) -> list[dict]:
    """One row per (gradient kind, scale): the :func:`cast_counts` of all the kind's gradients together, with
    fractions of the non-zero values."""
    rows = []
    for kind, named in grads.items():
        flat = torch.cat([g.detach().float().reshape(-1) for g in named.values()])
        for scale in scales:
            c = cast_counts(flat, scale, dtype)
            n = max(c["values"], 1)
            rows.append({"gradients": kind, "scale": scale, "log2_scale": math.log2(scale), **c,
                         "underflow_fraction": c["underflow"] / n, "subnormal_fraction": c["subnormal"] / n,
                         "overflow_fraction": c["overflow"] / n})
    return rows


def max_safe_scale(grads: dict[str, dict[str, torch.Tensor]], dtype=torch.float16) -> float:
    """The largest power of two ``S`` with ``S · max|g| <= dtype``'s largest finite value (what dynamic loss
    scaling converges to from above, if gradients stayed as they are)."""
    biggest = max(float(g.detach().abs().max()) for named in grads.values() for g in named.values() if g.numel())
    if biggest == 0:
        raise ValueError("every gradient is zero: any scale is safe")
    return 2.0 ** math.floor(math.log2(torch.finfo(dtype).max / biggest))
