"""Quantization in simulation: affine quantizers, calibration, fake quantization, PTQ and QAT.

Uniform affine quantization (Jacob et al. 2018) maps a real ``r`` to an integer ``q`` with
``q = clamp(round(r / scale) + zero_point, qmin, qmax)`` and back with
``r̂ = scale · (q − zero_point)`` (PyTorch's convention). *Symmetric* quantizers use signed integers
and ``zero_point = 0``; *asymmetric* ones unsigned integers and a zero point that makes 0.0
exactly representable. *Per-channel* quantizers take one ``(scale, zero_point)`` per output channel.

Everything here is *simulated*: fake-quantized tensors are still float32, so a fake-quantized
model is neither smaller nor faster. :mod:`companion.quantization.int8` converts models to real int8 engines;
:mod:`companion.quantization.weight_sharing` quantizes by clustering (k-means, product quantization);
:mod:`companion.formats.huffman` and :mod:`companion.quantization.deep_compression` write real compressed files.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

CALIBRATIONS = ("minmax", "percentile", "mse")


MSE_GRID = 40  # candidate clipping ratios of the MSE calibration
MIN_BITS, MAX_BITS = 2, 16


def check_bits(bits) -> int:
    """``bits`` if it is an integer in [2, 16], else a ``ValueError``. One bit is not an affine grid: a symmetric
    1-bit quantizer has the levels {−1, 0}·scale and maps ``[-1, -.5, .3, 1]`` to zeros; binarization
    (sign and a scale, :mod:`companion.binarization`, notebook 06) is the 1-bit method."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_BITS <= bits <= MAX_BITS:
        hint = " (1 bit is binarization: use companion.binarization, see 06_binarization)" if bits == 1 else ""
        raise ValueError(f"bits must be an integer in [{MIN_BITS}, {MAX_BITS}]{hint}, got {bits!r}")
    return bits


@dataclass(frozen=True)
class QuantConfig:
    """One quantizer: ``bits``, symmetric or asymmetric, per-tensor or per-channel, calibration.

    ``calibration``: ``"minmax"`` (the observed range), ``"percentile"`` (clip at the
    ``percentile``-th and ``100 − percentile``-th percentiles) or ``"mse"`` (the clipping of the
    min-max range that minimises the quantization MSE). ``axis`` is the channel axis.
    """

    bits: int = 8
    symmetric: bool = True
    per_channel: bool = False
    calibration: str = "minmax"
    percentile: float = 99.99
    axis: int = 0

    def __post_init__(self):
        check_bits(self.bits)
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {self.percentile}")

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.symmetric else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.symmetric else (1 << self.bits) - 1


def _channels_first(x: torch.Tensor, axis: int) -> torch.Tensor:
    """``x`` as a ``(C, everything else)`` matrix along ``axis``."""
    return x.movedim(axis, 0).reshape(x.shape[axis], -1)


def _broadcast(t: torch.Tensor, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Shape a per-channel vector ``t`` to broadcast against ``x`` along ``axis``."""
    if axis is None or t.dim() == 0:
        return t
    shape = [1] * x.dim()
    shape[axis] = -1
    return t.reshape(shape)


def affine_qparams(lo: torch.Tensor, hi: torch.Tensor, bits: int, symmetric: bool = True):
    """``(scale, zero_point)`` that map the range ``[lo, hi]`` onto ``bits``-bit integers.

    Symmetric: ``scale = max(|lo|, |hi|) / ((qmax − qmin) / 2)``, ``zero_point = 0``.
    Asymmetric: the range is widened to contain 0, ``scale = (hi − lo) / (qmax − qmin)``,
    ``zero_point = qmin − round(lo / scale)``. Formulas of PyTorch's ``MinMaxObserver``.
    Works element-wise, so ``lo``/``hi`` may be scalars or per-channel vectors.
    """
    cfg = QuantConfig(bits=bits, symmetric=symmetric)
    lo = torch.clamp(torch.as_tensor(lo, dtype=torch.float32), max=0.0)
    hi = torch.clamp(torch.as_tensor(hi, dtype=torch.float32), min=0.0)
    eps = torch.finfo(torch.float32).eps
    if symmetric:
        scale = torch.clamp(torch.maximum(-lo, hi) / ((cfg.qmax - cfg.qmin) / 2), min=eps)
        return scale, torch.zeros_like(scale, dtype=torch.int32)
    scale = torch.clamp((hi - lo) / (cfg.qmax - cfg.qmin), min=eps)
    zero_point = torch.clamp(cfg.qmin - torch.round(lo / scale), cfg.qmin, cfg.qmax)
    return scale, zero_point.to(torch.int32)


def fake_quantize(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int, axis: int | None = None):
    """Quantize and dequantize: ``r̂ = scale · (clamp(round(x / scale) + zp, qmin, qmax) − zp)``.

    Backward is the straight-through estimator (Bengio et al. 2013) clipped to the range: the
    gradient is 1 where ``qmin ≤ round(x/scale) + zp ≤ qmax`` and 0 elsewhere, exactly as
    ``torch.fake_quantize_per_tensor_affine``. ``scale``/``zero_point`` are scalars, or vectors
    along ``axis`` (per channel).
    """
    s = _broadcast(torch.as_tensor(scale, dtype=x.dtype, device=x.device), x, axis).detach()
    zp = _broadcast(torch.as_tensor(zero_point, device=x.device), x, axis).to(x.dtype)
    q = torch.round(x.detach() * (1.0 / s)) + zp
    inside = (q >= qmin) & (q <= qmax)
    fq = (torch.clamp(q, qmin, qmax) - zp) * s
    return fq + (x - x.detach()) * inside  # value fq, gradient 1 inside the range


def quantize(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int, axis: int | None = None):
    """The integers ``q = clamp(round(x / scale) + zero_point, qmin, qmax)`` (int64 tensor)."""
    s = _broadcast(torch.as_tensor(scale, dtype=x.dtype, device=x.device), x, axis)
    zp = _broadcast(torch.as_tensor(zero_point, device=x.device), x, axis)
    return torch.clamp(torch.round(x * (1.0 / s)).long() + zp, qmin, qmax)


def _percentile_range(rows: torch.Tensor, pct: float):
    rows = rows.float()
    if rows.shape[1] > 1 << 22:  # torch.quantile's size limit: a fixed strided subsample
        rows = rows[:, :: rows.shape[1] // (1 << 22) + 1]
    q = torch.quantile(rows, torch.tensor([1 - pct / 100, pct / 100], device=rows.device), dim=1)
    return q[0], q[1]


def _mse_range(rows: torch.Tensor, cfg: QuantConfig):
    """Per row, the clipping ``α·[lo, hi]`` (α on a grid in (0, 1]) with the smallest quantization MSE."""
    lo, hi = rows.amin(1), rows.amax(1)
    best_err = torch.full_like(lo, float("inf"))
    best_lo, best_hi = lo.clone(), hi.clone()
    for alpha in torch.linspace(1.0 / MSE_GRID, 1.0, MSE_GRID).tolist():
        s, zp = affine_qparams(alpha * lo, alpha * hi, cfg.bits, cfg.symmetric)
        err = (fake_quantize(rows, s.to(rows.device), zp.to(rows.device), cfg.qmin, cfg.qmax, 0) - rows
               ).pow(2).mean(1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_lo, best_hi = torch.where(better, alpha * lo, best_lo), torch.where(better, alpha * hi, best_hi)
    return best_lo, best_hi


@torch.no_grad()
def calibrate_range(x: torch.Tensor, cfg: QuantConfig):
    """The range ``(lo, hi)`` to quantize ``x`` with: scalars, or ``(C,)`` vectors per channel."""
    rows = _channels_first(x.detach(), cfg.axis) if cfg.per_channel else x.detach().reshape(1, -1)
    if cfg.calibration == "minmax":
        lo, hi = rows.amin(1), rows.amax(1)
    elif cfg.calibration == "percentile":
        lo, hi = _percentile_range(rows, cfg.percentile)
    else:
        lo, hi = _mse_range(rows, cfg)
    return (lo, hi) if cfg.per_channel else (lo[0], hi[0])


def qparams(x: torch.Tensor, cfg: QuantConfig):
    """``(scale, zero_point)`` of ``x`` under ``cfg``: :func:`calibrate_range` then :func:`affine_qparams`."""
    lo, hi = calibrate_range(x, cfg)
    return affine_qparams(lo, hi, cfg.bits, cfg.symmetric)


def fake_quantize_tensor(x: torch.Tensor, cfg: QuantConfig) -> torch.Tensor:
    """``x`` fake-quantized with the qparams ``cfg`` calibrates on ``x`` itself."""
    scale, zp = qparams(x, cfg)
    return fake_quantize(x, scale.to(x.device), zp.to(x.device), cfg.qmin, cfg.qmax,
                         cfg.axis if cfg.per_channel else None)


def quantization_mse(x: torch.Tensor, cfg: QuantConfig) -> float:
    """Mean squared error ``E[(x − fq(x))²]`` of quantizing ``x`` with ``cfg``."""
    with torch.no_grad():
        return (fake_quantize_tensor(x, cfg) - x).pow(2).mean().item()


def fused_fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, cfg: QuantConfig):
    """:func:`fake_quantize` through PyTorch's fused kernels (``torch.fake_quantize_per_*_affine``):
    the same values and STE gradients (the unit tests check both), one pass over memory instead of
    several — what the training loops use."""
    scale, zero_point = scale.to(x.device, torch.float32), zero_point.to(x.device, torch.int32)
    if cfg.per_channel:
        return torch.fake_quantize_per_channel_affine(x, scale, zero_point, cfg.axis, cfg.qmin, cfg.qmax)
    return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, cfg.qmin, cfg.qmax)
