"""Real low-precision files: fp16/bf16/fp8 state dicts, and every other format as integer codes plus a
per-tensor exponent, so that the bytes on disk are the format's bytes (not float32 values on a grid).

- A format with a torch dtype and no per-tensor scale (fp16, bf16, e5m2, e4m3fn) is saved as a plain
  ``state_dict`` of that dtype: ``torch.save`` writes 2 or 1 bytes per value, and ``load_state_dict`` into
  a float32 model casts it back exactly.
- Fixed point (static or dynamic) is saved as two's complement mantissas ``m`` with ``value = m · 2^exponent``,
  one integer ``exponent`` per tensor; minifloats of ``ml_dtypes`` as their bit codes; a scaled minifloat as
  the codes of ``x · 2^-s`` and ``s``. Codes of 8, 16 or 32 bits are native integer tensors; other widths
  (fp6, fp4, 12-bit fixed point) are bit-packed, LSB first, so that a 12-bit value costs 1.5 bytes.

Floating tensors are converted; integer buffers (``num_batches_tracked``) are kept as they are. Loading gives
back exactly the values the quantizer produced (the unit tests assert it bit for bit).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..io import torch_save_atomic
from .formats import FixedPoint, MiniFloat, Scaled, fixed_point_mantissas
from .registry import get_format, numpy_dtype

CONTAINER = "companion.precision/1"  # marks a file written by save_model in the codes + exponent layout


def is_plain_cast(fmt) -> bool:
    """Does ``fmt`` save as a plain ``state_dict`` of a torch dtype (fp32, fp16, bf16, e5m2, e4m3fn)?"""
    return isinstance(fmt, MiniFloat) and fmt.torch_dtype is not None


def quantize_state_dict(state: dict, fmt, rounding: str = "nearest", generator=None) -> dict:
    """Every floating tensor of ``state`` rounded to ``fmt`` (values in float32); other entries unchanged."""
    return {k: fmt.quantize(v.detach().float(), rounding, generator) if v.is_floating_point() else v
            for k, v in state.items()}


def save_model(model_or_state, path, fmt, rounding: str = "nearest", generator=None) -> Path:
    """Write the ``state_dict`` of ``model_or_state`` in format ``fmt`` (a format or its name) to ``path``.

    Returns the path; its size is the real cost of the format (``companion.measure.size_bytes(path)``).
    """
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    state = model_or_state.state_dict() if isinstance(model_or_state, torch.nn.Module) else model_or_state
    state = {k: v.detach().cpu() for k, v in state.items()}
    values = quantize_state_dict(state, fmt, rounding, generator)
    if is_plain_cast(fmt):
        dtype = getattr(torch, fmt.torch_dtype)
        return torch_save_atomic({k: v.to(dtype) if state[k].is_floating_point() else v for k, v in values.items()}, path)
    entries = {k: encode(v, fmt) if state[k].is_floating_point() else v for k, v in values.items()}
    inner = fmt.inner if isinstance(fmt, Scaled) else fmt
    return torch_save_atomic({"container": CONTAINER, "format": fmt.name, "inner": inner.name, "entries": entries}, path)


def load_state_dict(path) -> dict:
    """The float32 ``state_dict`` of a file written by :func:`save_model` (any format)."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    if saved.get("container") != CONTAINER:
        return {k: v.float() if v.is_floating_point() else v for k, v in saved.items()}
    inner = get_format(saved["inner"])
    return {k: decode(v, inner) if isinstance(v, dict) else v for k, v in saved["entries"].items()}


# ---------------------------------------------------------------- one tensor: codes and an exponent
def encode(values: torch.Tensor, fmt) -> dict:
    """A tensor already on ``fmt``'s grid → ``{"codes", "bits", "exponent", "shape"}`` (see the module doc)."""
    inner = fmt.inner if isinstance(fmt, Scaled) else fmt
    if isinstance(inner, FixedPoint):
        mantissa, exponent = fixed_point_mantissas(values, fmt)
        codes = mantissa & (2 ** inner.wl - 1)  # two's complement in wl bits
        return {"codes": store_codes(codes, inner.wl), "bits": inner.wl, "exponent": exponent, "shape": list(values.shape)}
    if isinstance(fmt, Scaled):
        s = fmt.exponent(values)
        return {**encode(values * 2.0 ** -s, inner), "exponent": s}
    if fmt.numpy_dtype is None:
        raise ValueError(f"{fmt.name} has neither a torch nor an ml_dtypes dtype to take its codes from")
    raw = values.numpy().astype(numpy_dtype(fmt)).view(np.uint8 if fmt.bits <= 8 else np.uint16)
    codes = torch.from_numpy(raw.astype(np.int64))
    return {"codes": store_codes(codes, fmt.bits), "bits": fmt.bits, "exponent": 0, "shape": list(values.shape)}


def decode(entry: dict, fmt) -> torch.Tensor:
    """The float32 tensor of an :func:`encode` entry (``fmt``: the format, or the inner format of a scaled one)."""
    shape, bits = entry["shape"], entry["bits"]
    codes = load_codes(entry["codes"], bits, int(np.prod(shape, dtype=np.int64)))
    inner = fmt.inner if isinstance(fmt, Scaled) else fmt
    if isinstance(inner, FixedPoint):
        mantissa = torch.where(codes >= 2 ** (bits - 1), codes - 2 ** bits, codes)
        values = mantissa.double() * 2.0 ** entry["exponent"]
    else:
        unsigned = codes.numpy().astype(np.uint8 if bits <= 8 else np.uint16)
        values = torch.from_numpy(unsigned.view(numpy_dtype(inner)).astype(np.float64)) * 2.0 ** entry["exponent"]
    return values.float().reshape(shape)


def store_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned codes (int64, each < 2^bits) → a native int8/int16/int32 tensor for 8/16/32 bits, else packed bytes."""
    native = {8: torch.int8, 16: torch.int16, 32: torch.int32}
    if bits in native:
        signed = torch.where(codes >= 2 ** (bits - 1), codes - 2 ** bits, codes)
        return signed.reshape(-1).to(native[bits])
    return pack_codes(codes, bits)


def load_codes(stored: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """The inverse of :func:`store_codes`: ``n`` unsigned codes as int64."""
    if stored.dtype in (torch.int8, torch.int16, torch.int32):
        return stored.to(torch.int64) & (2 ** bits - 1)
    return unpack_codes(stored, bits, n)


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned ``bits``-bit codes → uint8 bytes, LSB first: code ``i`` fills bits ``[i·bits, (i+1)·bits)``
    of the stream, so ``n`` codes take ``⌈n · bits / 8⌉`` bytes."""
    if not 1 <= bits <= 32:
        raise ValueError(f"bits must be in [1, 32], got {bits}")
    c = codes.reshape(-1).to(torch.int64)
    if c.numel() and (c.min() < 0 or c.max() >= 2 ** bits):
        raise ValueError(f"codes must be in [0, 2^{bits}), got [{c.min().item()}, {c.max().item()}]")
    planes = ((c[:, None] >> torch.arange(bits)) & 1).to(torch.uint8)
    return torch.from_numpy(np.packbits(planes.reshape(-1).numpy(), bitorder="little"))


def unpack_codes(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    """``n`` codes of ``bits`` bits from :func:`pack_codes`'s bytes, as int64."""
    if packed.numel() * 8 < n * bits:
        raise ValueError(f"{packed.numel()} bytes cannot hold {n} codes of {bits} bits")
    planes = np.unpackbits(packed.numpy(), count=n * bits, bitorder="little").reshape(n, bits)
    return (torch.from_numpy(planes.astype(np.int64)) << torch.arange(bits)).sum(1)
