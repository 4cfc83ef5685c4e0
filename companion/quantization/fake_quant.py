"""Fake-quantized models: weight and activation quantizers attached to a model, BN folding, calibration (PTQ, QAT)."""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.data import TensorDataset

from ..data import loader
from ..layers import WEIGHTED, find_layers
from .affine import QuantConfig, affine_qparams, calibrate_range, fused_fake_quantize, qparams


class WeightFakeQuant(nn.Module):
    """Parametrization ``w ↦ fq(w)``. Until :meth:`freeze`, calibrated on the current weight (again
    whenever it changes); once frozen (by :func:`calibrate_`), the grid stays fixed and QAT moves
    the weights across its levels — a grid that moved at every step would make them oscillate."""

    def __init__(self, cfg: QuantConfig):
        super().__init__()
        self.cfg, self.frozen, self._key, self._qparams = cfg, False, None, None

    def freeze(self, w: torch.Tensor) -> None:
        """Fix ``scale``/``zero_point`` to those calibrated on ``w``."""
        self._qparams, self.frozen = qparams(w, self.cfg), True

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        key = (w.data_ptr(), w._version, w.device)
        if not self.frozen and key != self._key:
            self._key, self._qparams = key, qparams(w, self.cfg)
        scale, zp = self._qparams
        return fused_fake_quantize(w, scale, zp, self.cfg)


class ActFakeQuant(nn.Module):
    """Activation quantizer: observes while ``observing`` (exact min/max plus a sample of values),
    then :meth:`freeze` fixes ``scale``/``zero_point`` by the calibration method and fake-quantizes.

    Memory stays bounded even if it is never calibrated (a model trained or run while still
    observing): min-max keeps no samples at all, and the percentile and MSE calibrations keep the
    samples of the first :attr:`MAX_BATCHES` batches only (min/max stay exact over all of them)."""

    SAMPLE = 1 << 14  # values kept per batch for the percentile and MSE calibrations
    MAX_BATCHES = 64  # batches whose samples are kept: at most 64 × 16,384 floats (4 MiB)

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
            if self.cfg.calibration != "minmax" and len(self._samples) < self.MAX_BATCHES:
                self._samples.append(flat[:: max(1, flat.numel() // self.SAMPLE)].cpu())
            return x
        return fused_fake_quantize(x, self.scale, self.zero_point, self.cfg)

    def observe(self) -> None:
        """Start a fresh observation (forget earlier ranges and samples)."""
        self.lo.fill_(float("inf"))
        self.hi.fill_(float("-inf"))
        self.observing, self._samples = True, []

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
    for m in find_layers(qmodel, WEIGHTED).values():
        parametrize.register_parametrization(m, "weight", WeightFakeQuant(weight_cfg))
        if act_cfg is not None:
            m.act_quant = ActFakeQuant(act_cfg)
            m.register_forward_pre_hook(_quantize_input)
    return qmodel


@torch.no_grad()
def calibrate_(qmodel: nn.Module, data, device="cpu", batches: int = 8, batch_size: int = 128) -> nn.Module:
    """Observe activations on ``batches`` batches of ``data`` (a ``TensorDataset``, or an iterable
    of ``(x, y)`` batches or of tensors), then freeze every activation and weight quantizer of ``qmodel``."""
    if isinstance(data, TensorDataset):
        data = loader(data, batch_size, False, 0)
    quantizers = [m for m in qmodel.modules() if isinstance(m, ActFakeQuant)]
    for q in quantizers:
        q.observe()
    qmodel.eval()
    for i, batch in enumerate(data):
        if i >= batches:
            break
        qmodel((batch[0] if isinstance(batch, (tuple, list)) else batch).to(device))
    for q in quantizers:
        q.freeze()
    for m in qmodel.modules():
        if parametrize.is_parametrized(m, "weight") and isinstance(m.parametrizations.weight[0], WeightFakeQuant):
            m.parametrizations.weight[0].freeze(m.parametrizations.weight.original.detach())
    return qmodel


@torch.no_grad()
def layer_input(model: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The tensor entering the submodule named ``layer`` when ``model(x)`` runs (an activation)."""
    seen = []
    handle = dict(model.named_modules())[layer].register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    try:
        model.eval()(x)
    finally:
        handle.remove()
    return seen[0]
