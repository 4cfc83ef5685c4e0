"""The named formats: those with a real dtype in torch or ``ml_dtypes``, parsing of format names, and the real
casts every quantizer is checked against."""
from __future__ import annotations

import re

import numpy as np
import torch

from .formats import FixedPoint, MiniFloat, Scaled, dynamic_fixed_point

# The named formats with a real dtype in torch or ml_dtypes (the quantizers are tested against their casts).
FORMATS = {
    "fp32": MiniFloat(8, 23, label="fp32", torch_dtype="float32"),
    "fp16": MiniFloat(5, 10, label="fp16", torch_dtype="float16", numpy_dtype="float16"),
    "bf16": MiniFloat(8, 7, label="bf16", torch_dtype="bfloat16", numpy_dtype="bfloat16"),
    "e5m2": MiniFloat(5, 2, label="e5m2", torch_dtype="float8_e5m2", numpy_dtype="float8_e5m2"),
    "e4m3fn": MiniFloat(4, 3, "fn", label="e4m3fn", torch_dtype="float8_e4m3fn", numpy_dtype="float8_e4m3fn"),
    "e4m3": MiniFloat(4, 3, label="e4m3", numpy_dtype="float8_e4m3"),
    "e3m4": MiniFloat(3, 4, label="e3m4", numpy_dtype="float8_e3m4"),
    "e3m2": MiniFloat(3, 2, "finite", label="e3m2", numpy_dtype="float6_e3m2fn"),
    "e2m3": MiniFloat(2, 3, "finite", label="e2m3", numpy_dtype="float6_e2m3fn"),
    "e2m1": MiniFloat(2, 1, "finite", label="e2m1", numpy_dtype="float4_e2m1fn"),
}
_FIXED = re.compile(r"fixed<(-?\d+),(-?\d+)>")
_DFP = re.compile(r"dfp<(-?\d+)>")


def get_format(name: str):
    """The format named ``name``: one of :data:`FORMATS`, ``"<name>-scaled"``, ``"fixed<wl,fl>"`` or ``"dfp<wl>"``."""
    if not isinstance(name, str):
        raise ValueError(f"a format name must be a string, got {name!r}")
    spec = name.replace(" ", "")
    if spec in FORMATS:
        return FORMATS[spec]
    if spec.endswith("-scaled") and spec[:-7] in FORMATS:
        return Scaled(FORMATS[spec[:-7]])
    if m := _FIXED.fullmatch(spec):
        return FixedPoint(int(m[1]), int(m[2]))
    if m := _DFP.fullmatch(spec):
        return dynamic_fixed_point(int(m[1]))
    raise ValueError(f"unknown format {name!r}; use one of {', '.join(FORMATS)} (optionally with '-scaled'), "
                     "'fixed<wl,fl>' or 'dfp<wl>'")


def numpy_dtype(fmt: MiniFloat) -> np.dtype:
    """The NumPy dtype of ``fmt`` (``ml_dtypes`` for the 8-, 6- and 4-bit floats and bf16, NumPy for fp16)."""
    import ml_dtypes

    if fmt.numpy_dtype is None:
        raise ValueError(f"{fmt.name} has no NumPy dtype")
    return np.dtype(getattr(ml_dtypes, fmt.numpy_dtype, fmt.numpy_dtype))


def reference_casts(x: torch.Tensor, fmt: MiniFloat) -> dict[str, torch.Tensor]:
    """``x`` (float32, within ±``fmt.max_value``) cast to ``fmt``'s real dtypes and back: ``{"torch": …,
    "ml_dtypes": …}`` for whichever exist. Both round to nearest, ties to even."""
    out = {}
    if fmt.torch_dtype is not None:
        out["torch"] = x.to(getattr(torch, fmt.torch_dtype)).float()
    if fmt.numpy_dtype is not None:
        out["ml_dtypes"] = torch.from_numpy(x.cpu().numpy().astype(numpy_dtype(fmt)).astype(np.float32))
    return out
