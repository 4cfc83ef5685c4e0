"""Formats at inference: a trained model saved in each format as a real file, reloaded, and scored.

The model's weights go through the file and back (so the accuracy is the file's, not a simulation that could
differ from it); compute stays float32. BatchNorm should be folded into the convolutions first, as an
inference engine does: quantized directly, a small running variance rounds to 0 and ``1/√(var + ε)`` explodes.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from ..measure import size_bytes
from ..train import evaluate
from .formats import FixedPoint, Scaled, dynamic_fixed_point, static_fixed_point
from .registry import FORMATS, get_format
from .storage import load_state_dict, save_model

FAMILIES = ("float", "minifloat", "minifloat (scaled)", "fixed point (static)", "dynamic fixed point")


def floating_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The floating-point entries of ``model.state_dict()`` (what a format converts)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def model_formats(model: nn.Module, floats=("fp32", "fp16", "bf16"), minifloats=(), fixed_bits=(),
                  scaled: bool = True) -> list[tuple[str, object]]:
    """``(family, format)`` pairs for ``model``: the float formats, each minifloat unscaled and (``scaled``) with a
    per-tensor scale, and static and dynamic fixed point at each word length (the static ⟨wl, fl⟩ fitted to
    the model's largest |value|)."""
    out = [("float", get_format(n)) for n in floats]
    for name in minifloats:
        out.append(("minifloat", get_format(name)))
        if scaled:
            out.append(("minifloat (scaled)", get_format(f"{name}-scaled")))
    tensors = list(floating_tensors(model).values())
    for wl in fixed_bits:
        out += [("fixed point (static)", static_fixed_point(tensors, wl)), ("dynamic fixed point", dynamic_fixed_point(wl))]
    return out


def evaluate_format(model: nn.Module, fmt, test_data, folder, stem: str, device="cpu") -> dict:
    """Save ``model`` in ``fmt`` to ``folder/<stem>.<format>.pt``, load it back into a copy, score it on
    ``test_data``; ``{"format", "bits", "size_bytes", "gzip_bytes", "accuracy", "path"}``."""
    safe = fmt.name.replace("<", "").replace(">", "").replace(",", "-")
    path = save_model(model, Path(folder) / f"{stem}.{safe}.pt", fmt)
    restored = copy.deepcopy(model).cpu()
    restored.load_state_dict(load_state_dict(path))
    size = size_bytes(path)
    return {"format": fmt.name, "bits": fmt.bits, "size_bytes": size.bytes, "gzip_bytes": size.gzip_bytes,
            "accuracy": evaluate(restored, test_data, device=device), "path": str(path)}


def tensor_ranges(model: nn.Module, wl: int) -> list[dict]:
    """Per tensor: its largest |value|, the fractional length static and dynamic fixed point give it at ``wl``
    bits, and the fraction of its non-zero values each rounds to 0 (what a too-coarse LSB erases)."""
    tensors = floating_tensors(model)
    static = static_fixed_point(list(tensors.values()), wl)
    dynamic = dynamic_fixed_point(wl)
    rows = []
    for name, t in tensors.items():
        nz = t != 0
        zeroed = {label: float(((fmt.quantize(t.float()) == 0) & nz).sum() / nz.sum().clamp(min=1))
                  for label, fmt in (("static", static), ("dynamic", dynamic))}
        rows.append({"tensor": name, "numel": t.numel(), "max_abs": float(t.abs().max()),
                     "static_fl": fractional_length(static, t), "dynamic_fl": fractional_length(dynamic, t),
                     "zeroed_static": zeroed["static"], "zeroed_dynamic": zeroed["dynamic"]})
    return rows


def fractional_length(fmt: Scaled, t: torch.Tensor) -> int:
    """The fractional length ``fl`` of ⟨wl, fl⟩ that a scaled fixed-point format gives tensor ``t``."""
    if not isinstance(fmt, Scaled) or not isinstance(fmt.inner, FixedPoint):
        raise ValueError(f"{getattr(fmt, 'name', fmt)} is not a scaled fixed-point format")
    return fmt.inner.fl - fmt.exponent(t)


def minifloat_names(max_bits: int = 8) -> list[str]:
    """The named minifloats of at most ``max_bits`` bits (the parameter choices of the notebook)."""
    return [n for n, f in FORMATS.items() if f.bits <= max_bits]
