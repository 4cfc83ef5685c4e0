"""Quantization in simulation: affine quantizers, calibration, fake quantization, PTQ and QAT,
and weight sharing by k-means (scalar) and product quantization.

Uniform affine quantization (Jacob et al. 2018) maps a real ``r`` to an integer ``q`` with
``q = clamp(round(r / scale) + zero_point, qmin, qmax)`` and back with
``r̂ = scale · (q − zero_point)`` (PyTorch's convention). *Symmetric* quantizers use signed integers
and ``zero_point = 0``; *asymmetric* ones unsigned integers and a zero point that makes 0.0
exactly representable. *Per-channel* quantizers take one ``(scale, zero_point)`` per output channel.

Everything here is *simulated*: fake-quantized tensors are still float32, so a fake-quantized
model is neither smaller nor faster. :mod:`companion.int8` converts models to real int8 engines;
:mod:`companion.huffman` and :mod:`companion.deep_compression` write real compressed files.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.data import TensorDataset

from .data import loader

CALIBRATIONS = ("minmax", "percentile", "mse")
MSE_GRID = 40  # candidate clipping ratios of the MSE calibration


# ---------------------------------------------------------------- configs
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
        if not isinstance(self.bits, int) or not 1 <= self.bits <= 16:
            raise ValueError(f"bits must be an integer in [1, 16], got {self.bits!r}")
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


# ---------------------------------------------------------------- pure tensor functions
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


# ---------------------------------------------------------------- modules: PTQ and QAT
class WeightFakeQuant(nn.Module):
    """Parametrization ``w ↦ fq(w)``: recalibrated on the current weight at every forward (QAT)."""

    def __init__(self, cfg: QuantConfig):
        super().__init__()
        self.cfg = cfg

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return fake_quantize_tensor(w, self.cfg)


class ActFakeQuant(nn.Module):
    """Activation quantizer: observes while ``observing`` (exact min/max plus a sample of values),
    then :meth:`freeze` fixes ``scale``/``zero_point`` by the calibration method and fake-quantizes."""

    SAMPLE = 1 << 14  # values kept per batch for the percentile and MSE calibrations

    def __init__(self, cfg: QuantConfig):
        super().__init__()
        if cfg.per_channel:
            raise ValueError("activations are quantized per tensor; use per_channel=False")
        self.cfg, self.observing, self._samples = cfg, True, []
        self.register_buffer("lo", torch.tensor(float("inf")))
        self.register_buffer("hi", torch.tensor(float("-inf")))
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("zero_point", torch.tensor(0, dtype=torch.int32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            flat = x.detach().flatten()
            self.lo, self.hi = torch.minimum(self.lo, flat.min()), torch.maximum(self.hi, flat.max())
            self._samples.append(flat[:: max(1, flat.numel() // self.SAMPLE)].cpu())
            return x
        return fake_quantize(x, self.scale, self.zero_point, self.cfg.qmin, self.cfg.qmax)

    def freeze(self) -> None:
        """End observation: compute the qparams from what was observed."""
        if self.cfg.calibration == "minmax" or not self._samples:
            lo, hi = self.lo, self.hi
        else:
            lo, hi = calibrate_range(torch.cat(self._samples), self.cfg)
        scale, zp = affine_qparams(lo.cpu(), hi.cpu(), self.cfg.bits, self.cfg.symmetric)
        self.scale, self.zero_point = scale.to(self.lo.device), zp.to(self.lo.device)
        self.observing, self._samples = False, []


def _quantize_input(module: nn.Module, args):
    return (module.act_quant(args[0]),) + tuple(args[1:])


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with every ``BatchNorm2d`` folded into the ``Conv2d`` registered
    just before it: ``w' = w·γ/σ``, ``b' = (b − μ)·γ/σ + β``; the BN becomes ``nn.Identity``."""
    model = copy.deepcopy(model).eval()
    for parent in model.modules():
        prev_name, prev = None, None
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d) and isinstance(prev, nn.Conv2d):
                setattr(parent, prev_name, fuse_conv_bn_eval(prev, child))
                setattr(parent, name, nn.Identity())
            prev_name, prev = name, child
    return model


def fake_quantize_model(model: nn.Module, weight_cfg: QuantConfig, act_cfg: QuantConfig | None = None,
                        fold_bn: bool = True) -> nn.Module:
    """A copy of ``model`` whose Conv2d/Linear layers fake-quantize their weights (``weight_cfg``)
    and the activations entering them (``act_cfg``; ``None`` leaves activations in float).

    BatchNorm is folded first (as an int8 engine does). Activation quantizers start observing:
    run :func:`calibrate_` before evaluating. Train the result with ``fit`` for QAT.
    """
    qmodel = fold_batchnorm(model) if fold_bn else copy.deepcopy(model)
    for m in qmodel.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            parametrize.register_parametrization(m, "weight", WeightFakeQuant(weight_cfg))
            if act_cfg is not None:
                m.act_quant = ActFakeQuant(act_cfg)
                m.register_forward_pre_hook(_quantize_input)
    return qmodel


@torch.no_grad()
def calibrate_(qmodel: nn.Module, data, device="cpu", batches: int = 8, batch_size: int = 128) -> nn.Module:
    """Observe activations on ``batches`` batches of ``data`` (a ``TensorDataset``, or an iterable
    of ``(x, y)`` batches or of tensors), then freeze every activation quantizer of ``qmodel``."""
    if isinstance(data, TensorDataset):
        data = loader(data, batch_size, False, 0)
    quantizers = [m for m in qmodel.modules() if isinstance(m, ActFakeQuant)]
    for q in quantizers:
        q.observing = True
    qmodel.eval()
    for i, batch in enumerate(data):
        if i >= batches:
            break
        qmodel((batch[0] if isinstance(batch, (tuple, list)) else batch).to(device))
    for q in quantizers:
        q.freeze()
    return qmodel


# ---------------------------------------------------------------- weight sharing: k-means and PQ
KMEANS_INITS = ("linear", "random")


def kmeans(x: torch.Tensor, k: int, iters: int = 30, init: str = "linear", seed: int = 0):
    """Lloyd's k-means of the rows of ``x`` (N, D): ``(centroids (k, D), labels (N,))``.

    ``init="linear"`` spaces the centroids evenly between the per-dimension min and max (the
    best initialisation in Deep Compression, Han et al. 2016, §3.2); ``"random"`` picks ``k`` rows
    (Forgy). Minimises ``Σ_i ‖x_i − c_{label_i}‖²``; an empty cluster keeps its centroid.
    """
    if x.dim() != 2 or not 1 <= k <= len(x):
        raise ValueError(f"need x of shape (N, D) and 1 <= k <= N, got {tuple(x.shape)} and k={k}")
    if init not in KMEANS_INITS:
        raise ValueError(f"init must be one of {KMEANS_INITS}, got {init!r}")
    x = x.detach().float()
    if init == "linear":
        t = torch.linspace(0, 1, k, device=x.device)[:, None]
        centroids = x.amin(0) + t * (x.amax(0) - x.amin(0))
    else:
        g = torch.Generator().manual_seed(seed)
        centroids = x[torch.randperm(len(x), generator=g)[:k].to(x.device)].clone()
    for _ in range(iters):
        labels = torch.cdist(x, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)[:, None]
        new = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        if torch.equal(new, centroids):
            break
        centroids = new
    return centroids, torch.cdist(x, centroids).argmin(1)


def share_weights(weight: torch.Tensor, clusters: int, mask: torch.Tensor | None = None, iters: int = 30):
    """Scalar weight sharing: ``(codebook (clusters,), indices)`` with ``weight ≈ codebook[indices]``.

    Only the weights where ``mask`` is true (the unpruned ones) are clustered; their index is
    meaningful only there. Gong et al. 2014 (scalar k-means), Han et al. 2016 (linear init).
    """
    mask = weight != 0 if mask is None else mask.bool()
    values = weight.detach()[mask].reshape(-1, 1)
    centroids, labels = kmeans(values, min(clusters, len(values)), iters, init="linear")
    indices = torch.zeros(weight.shape, dtype=torch.long, device=weight.device)
    indices[mask] = labels
    return centroids.flatten(), indices


class SharedWeight(nn.Module):
    """Parametrization ``w = mask ⊙ centroids[indices]``: training updates only the shared centroids.

    The gradient of a centroid is the sum of the gradients of the weights that share it
    (Han et al. 2016, eq. 3): autograd's gather backward computes exactly that.
    """

    def __init__(self, centroids: torch.Tensor, indices: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.centroids = nn.Parameter(centroids.detach().clone())
        self.register_buffer("indices", indices)
        self.register_buffer("mask", mask.bool())

    def forward(self, _weight: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, self.centroids[self.indices], torch.zeros((), device=self.mask.device))


def share_model_weights_(model: nn.Module, clusters: int, layers=None) -> dict[str, SharedWeight]:
    """Replace the weight of every Linear/Conv2d (or those named in ``layers``) by its k-means
    sharing, in place; zeros stay zero. Returns the :class:`SharedWeight` of each layer by name."""
    found = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    names = list(found) if layers is None else list(layers)
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"no Linear/Conv2d named {missing}; layers: {', '.join(found)}")
    shared = {}
    for name in names:
        w = found[name].weight
        codebook, indices = share_weights(w, clusters)
        shared[name] = SharedWeight(codebook, indices, w.detach() != 0)
        parametrize.register_parametrization(found[name], "weight", shared[name], unsafe=True)
    return shared


def product_quantize(weight: torch.Tensor, sub_dim: int, clusters: int, iters: int = 30, seed: int = 0):
    """Product quantization of a (out, in) matrix (Gong et al. 2014): ``(codebooks (m, k, d), codes (out, m))``.

    The input dimension is cut into ``m = ⌈in / d⌉`` segments of ``d = sub_dim`` columns (the last
    zero-padded); in each, the ``out`` row pieces are clustered into ``k`` centroids.
    """
    if weight.dim() != 2 or sub_dim < 1:
        raise ValueError(f"need a 2-D weight and sub_dim >= 1, got {tuple(weight.shape)}, {sub_dim}")
    out, inp = weight.shape
    w = nn.functional.pad(weight.detach().float(), (0, -inp % sub_dim))
    pieces = w.reshape(out, -1, sub_dim).transpose(0, 1)  # (m, out, d)
    books, codes = zip(*(kmeans(p, min(clusters, out), iters, "random", seed) for p in pieces))
    return torch.stack(books), torch.stack(codes, 1)


def pq_reconstruct(codebooks: torch.Tensor, codes: torch.Tensor, in_features: int) -> torch.Tensor:
    """The (out, in) matrix of a product quantization: row ``i``, segment ``j`` is ``codebooks[j, codes[i, j]]``."""
    m = torch.arange(codebooks.shape[0], device=codes.device)
    return codebooks[m, codes].reshape(len(codes), -1)[:, :in_features]
