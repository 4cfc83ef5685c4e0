"""Binarization (survey §2.6): BinaryConnect, binarized neural networks, XNOR-Net, ternary weights.

Training side. Weights (and, for BNN and XNOR-Net, activations) are binarized in the forward pass
while real-valued *latent* weights accumulate the gradient updates; the sign has no useful gradient,
so a straight-through estimator (STE) stands in for it. The packed XNOR/popcount inference of the
trained networks lives in :mod:`companion.binarization.kernels` (kernels), :mod:`companion.binarization.packed`
(converter, file) and :mod:`companion.binarization.network` (the BNN packed end to end).

- ``float``: fp32 weights, ReLU (the reference);
- ``binaryconnect``: sign(w), or +1 with probability hard_sigmoid(w); real activations
  (Courbariaux, Bengio & David 2015). The stochastic variant is evaluated, as in the paper (§2.6), with the
  real-valued weights (``stochastic_inference="real"``); ``"sign"`` evaluates it with sign(w) instead;
- ``bnn``: sign(w) and sign(a), hard-tanh straight-through estimator (Hubara, Courbariaux et al. 2016);
- ``bwn``: α·sign(w) with one α per filter; real activations (Rastegari et al. 2016, Binary-Weight-Networks);
- ``xnor``: α·sign(w) and K·sign(a) (Rastegari et al. 2016, XNOR-Net);
- ``ternary``: α·t, t ∈ {-1, 0, +1}; real activations (Li & Liu 2016, Ternary Weight Networks).

Every binary value here is exactly ±1: ``sign(0) = +1`` (``torch.sign(0) = 0`` would not be binary).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

METHODS = ("float", "binaryconnect", "bnn", "bwn", "xnor", "ternary")


# method -> (weight mode, activation mode) of the binarized layers
MODES = {"float": ("float", "real"), "binaryconnect": ("sign", "real"), "bnn": ("sign", "sign"),
         "bwn": ("scaled_sign", "real"), "xnor": ("scaled_sign", "scaled_sign"), "ternary": ("ternary", "real")}


CLIPPED = ("binaryconnect", "bnn")  # methods whose papers clip the latent weights to [-1, 1]


@dataclass(frozen=True)
class BinarizeConfig:
    """How a network is binarized: the method and its few knobs."""

    method: str = "bnn"
    stochastic: bool = False  # BinaryConnect only: sample +1 with probability hard_sigmoid(w)
    stochastic_inference: str = "real"  # stochastic BinaryConnect at test time: real-valued w (the paper) or sign(w)
    ternary_threshold: float = 0.7  # TWN: Δ = threshold · mean|W| (0.7 in Li & Liu)
    binarize_first_last: bool = False  # the papers keep the first and last layers in full precision

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.stochastic and self.method != "binaryconnect":
            raise ValueError(f"stochastic binarization is BinaryConnect's; method is {self.method!r}")
        if self.stochastic_inference not in ("real", "sign"):
            raise ValueError(f"stochastic_inference must be 'real' (the paper's test-time weights) or 'sign', "
                             f"got {self.stochastic_inference!r}")
        if not 0.0 < self.ternary_threshold < 1.5:
            raise ValueError(f"ternary_threshold must be in (0, 1.5), got {self.ternary_threshold}")

    @property
    def weight_mode(self) -> str:
        if self.stochastic:
            return "stochastic" if self.stochastic_inference == "real" else "stochastic_sign"
        return MODES[self.method][0]

    @property
    def activation_mode(self) -> str:
        return MODES[self.method][1]

    @property
    def binary_activations(self) -> bool:
        return self.activation_mode != "real"

    @property
    def clips_weights(self) -> bool:
        return self.method in CLIPPED


def sign(x: torch.Tensor) -> torch.Tensor:
    """Deterministic binarization ``x_b = +1 if x >= 0 else -1`` (every output exactly ±1)."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


class SignSTE(torch.autograd.Function):
    """sign(x) forward; straight-through estimator with the hard-tanh clip backward.

    ``∂L/∂x = ∂L/∂x_b · 1_{|x| <= 1}`` (Hubara, Courbariaux et al. 2016, eq. 4): the gradient of
    ``hardtanh(x) = clip(x, -1, 1)``, cancelled where ``|x| > 1``.
    """

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return sign(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def ste_sign(x: torch.Tensor) -> torch.Tensor:
    """:class:`SignSTE` applied to ``x``: ±1 forward, ``grad · 1_{|x|<=1}`` backward."""
    return SignSTE.apply(x)


def straight_through(q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Value ``q`` forward, gradient passed to ``w`` unchanged: ``q + (w − w.detach())``.

    The forward value is exactly ``q`` (``w − w.detach()`` is exactly 0), unlike ``w + (q − w).detach()``.
    """
    return q.detach() + (w - w.detach())


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``σ(x) = clip((x + 1) / 2, 0, 1)``: BinaryConnect's probability of +1."""
    return ((x + 1) / 2).clamp(0, 1)


def stochastic_sign(w: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """BinaryConnect's stochastic binarization: +1 with probability ``hard_sigmoid(w)``, else -1.

    Straight-through backward (identity), as in Courbariaux, Bengio & David 2015.
    """
    u = torch.rand(w.shape, generator=generator, device=w.device, dtype=w.dtype)
    wb = torch.where(u < hard_sigmoid(w.detach()), 1.0, -1.0).to(w.dtype)
    return straight_through(wb, w)


def filter_scale(w: torch.Tensor) -> torch.Tensor:
    """XNOR-Net's per-filter factor ``α_o = mean |W_o|`` (one per output row/filter), shape (O, 1, …)."""
    return w.abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)


def ternary_threshold(w: torch.Tensor, factor: float = 0.7) -> tuple[torch.Tensor, torch.Tensor]:
    """TWN's threshold and scale: ``Δ = factor · mean|W|``, ``α = mean_{|W| > Δ} |W|`` (Li & Liu 2016)."""
    delta = factor * w.abs().mean()
    kept = w.abs() > delta
    alpha = (w.abs() * kept).sum() / kept.sum().clamp(min=1)
    return delta, alpha


def ternarize(w: torch.Tensor, factor: float = 0.7) -> tuple[torch.Tensor, torch.Tensor]:
    """Ternary weights ``t ∈ {-1, 0, +1}`` (``t = sign(w)`` where ``|w| > Δ``) and their scale α.

    ``w ≈ α·t``; straight-through backward to the latent weights.
    """
    delta, alpha = ternary_threshold(w.detach(), factor)
    t = sign(w.detach()) * (w.detach().abs() > delta)
    return straight_through(t, w), alpha


def binarize_weight(w: torch.Tensor, mode: str, *, factor: float = 0.7, training: bool = False,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latent weights ``w`` → (unit weights in {-1, (0,) +1}, scale or None); ``w_used = unit · scale``.

    Keeping the scale apart lets a layer compute ``scale · (x ⊛ unit)``, whose integer part the packed
    kernels reproduce exactly. Stochastic binarization samples only while ``training`` (from ``generator``);
    at test time ``"stochastic"`` uses the real-valued weights, as BinaryConnect's experiments do
    (Courbariaux et al. 2015, §2.6: "test-time inference using the real-valued weights"), and
    ``"stochastic_sign"`` uses sign(w).
    """
    if mode == "float":
        return w, None
    if mode in ("stochastic", "stochastic_sign") and training:
        return stochastic_sign(w, generator), None
    if mode == "stochastic":
        return w, None
    if mode in ("sign", "stochastic_sign"):
        return ste_sign(w), None
    if mode == "scaled_sign":
        return ste_sign(w), filter_scale(w).flatten()
    if mode == "ternary":
        t, alpha = ternarize(w, factor)
        return t, alpha.reshape(1)
    raise ValueError(f"unknown weight mode {mode!r}")


def input_scale(a: torch.Tensor, kernel_size=None, stride=1, padding=0) -> torch.Tensor:
    """XNOR-Net's input factor: ``β = mean|a|`` per sample (linear), or ``K = (mean_c |a|) * k``.

    For a convolution ``k`` is a ``kh × kw`` box filter of weight 1/(kh·kw) (zero padded, like the
    convolution; ``kernel_size``, ``stride``, ``padding`` are ints or pairs): ``K`` has shape
    (B, 1, H_out, W_out). For a linear layer (no ``kernel_size``) ``β`` has shape (B, 1).
    """
    if kernel_size is None:
        return a.abs().mean(dim=1, keepdim=True)
    big_a = a.abs().mean(dim=1, keepdim=True)
    return F.avg_pool2d(big_a, kernel_size, stride, padding, count_include_pad=True)
