"""Integer-only inference of one layer (Jacob et al. 2018, §2.2–2.4): what makes int8 real.

A quantized layer ``y = W x + b`` with ``x ≈ s_x (q_x − z_x)``, ``W ≈ s_w q_w`` (symmetric, per output
channel) and ``y ≈ s_y (q_y − z_y)`` is computed without a single float operation:

1. ``acc = Σ_j q_w[i, j] · (q_x[j] − z_x) + q_b[i]`` in **int32** accumulators, with the bias quantized
   to ``q_b = round(b / (s_w s_x))`` (scale ``s_w s_x``, zero point 0);
2. the real multiplier ``M = s_w s_x / s_y`` (in (0, 1) in practice) is stored as a **fixed-point**
   number: an int32 ``M0 ∈ [2^30, 2^31)`` and a right shift ``n`` with ``M ≈ M0 · 2^−n``;
3. ``q_y = clamp(z_y + round(acc · M0 · 2^−n), qmin, qmax)``: an integer multiply and a rounding shift.

:func:`from_quantized_linear` reads these integers out of a PyTorch ``quantized.Linear`` (the one an
int8 engine runs), so the unit tests compare this arithmetic with the engine's own output.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def fixed_point_multiplier(m: float) -> tuple[int, int]:
    """``(M0, n)`` with ``M0`` an int32 in ``[2^30, 2^31)`` and ``m ≈ M0 · 2^−n`` (relative error ≤ 2^−31)."""
    if not 0.0 < m < 1.0:
        raise ValueError(f"the requantization multiplier must be in (0, 1), got {m}")
    n = 31
    while m < 0.5:  # normalise to [0.5, 1): every shift is one more bit of M0 used
        m, n = m * 2.0, n + 1
    m0 = round(m * (1 << 31))
    if m0 == 1 << 31:  # m rounded up to 1.0
        m0, n = m0 // 2, n - 1
    return m0, n


def rounding_shift(acc: torch.Tensor, m0: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """``round(acc · m0 · 2^−n)`` in int64, ties away from zero (gemmlowp's rounding right shift)."""
    prod = acc.long() * m0.long()
    half = torch.ones_like(prod) << (n.long() - 1)
    mag = (prod.abs() + half) >> n.long()
    return torch.where(prod < 0, -mag, mag)


@dataclass(frozen=True)
class IntegerLinear:
    """Every integer a quantized linear layer needs: int8 weights per output channel, int32 bias, the
    fixed-point multipliers ``(M0, n)`` per channel, and the input/output zero points and output range."""

    weight: torch.Tensor      # (out, in) int8 values as int64
    bias: torch.Tensor        # (out,) int32 values as int64, scale s_w · s_x
    m0: torch.Tensor          # (out,) int32 multipliers
    shift: torch.Tensor       # (out,) right shifts
    x_zero_point: int
    y_zero_point: int
    multiplier: torch.Tensor  # (out,) the real M = s_w s_x / s_y, for the float comparison
    qmin: int = 0
    qmax: int = 255

    def accumulate(self, q_x: torch.Tensor) -> torch.Tensor:
        """The int32 accumulators ``q_w (q_x − z_x) + q_b`` of a batch of inputs ``q_x`` (N, in)."""
        acc = (q_x.long() - self.x_zero_point) @ self.weight.T + self.bias
        if acc.min() < INT32_MIN or acc.max() > INT32_MAX:
            raise OverflowError("an accumulator left the int32 range")
        return acc

    def __call__(self, q_x: torch.Tensor) -> torch.Tensor:
        """The output integers ``q_y`` (N, out), by integer arithmetic only."""
        return torch.clamp(self.y_zero_point + rounding_shift(self.accumulate(q_x), self.m0, self.shift),
                           self.qmin, self.qmax)

    def float_requantize(self, q_x: torch.Tensor) -> torch.Tensor:
        """The same output with the multiplier ``M`` applied in float64 (the reference of step 3)."""
        y = self.accumulate(q_x).double() * self.multiplier.double()
        return torch.clamp(self.y_zero_point + torch.round(y).long(), self.qmin, self.qmax)


def integer_linear(weight: torch.Tensor, bias: torch.Tensor | None, x_scale: float, x_zero_point: int,
                   y_scale: float, y_zero_point: int, qmin: int = 0, qmax: int = 255) -> IntegerLinear:
    """:class:`IntegerLinear` of a float ``weight`` (out, in): symmetric int8 per output channel
    (``s_w = max|w_i| / 127.5``, as PyTorch's observer), bias in int32 at scale ``s_w s_x``."""
    w = weight.detach().double()
    s_w = (w.abs().amax(1) / 127.5).clamp(min=torch.finfo(torch.float32).eps)
    q_w = torch.clamp(torch.round(w / s_w[:, None]), -128, 127).long()
    b = torch.zeros(len(w), dtype=torch.float64) if bias is None else bias.detach().double()
    return _assemble(q_w, s_w, b, x_scale, x_zero_point, y_scale, y_zero_point, qmin, qmax)


def _assemble(q_w, s_w, b, x_scale, x_zero_point, y_scale, y_zero_point, qmin, qmax) -> IntegerLinear:
    acc_scale = s_w * x_scale
    q_b = torch.round(b / acc_scale).long()
    mult = acc_scale / y_scale
    pairs = [fixed_point_multiplier(float(m)) for m in mult]
    return IntegerLinear(q_w, q_b, torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs]),
                         int(x_zero_point), int(y_zero_point), mult, qmin, qmax)


def from_quantized_linear(layer, x_scale: float, x_zero_point: int) -> IntegerLinear:
    """The integers inside a converted ``torch.ao.nn.quantized.Linear`` (per-tensor or per-channel
    int8 weights, float bias, output ``scale``/``zero_point``) fed with inputs of ``(x_scale, x_zero_point)``."""
    w = layer.weight()
    if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        s_w = w.q_per_channel_scales().double()
    else:
        s_w = torch.full((w.shape[0],), w.q_scale(), dtype=torch.float64)
    zps = w.q_per_channel_zero_points() if w.qscheme() in (torch.per_channel_affine,
                                                          torch.per_channel_symmetric) else torch.tensor([w.q_zero_point()])
    if torch.any(zps != 0):
        raise ValueError("only symmetric (zero-point 0) int8 weights are supported")
    q_w = w.int_repr().long()
    b = layer.bias()
    b = torch.zeros(w.shape[0], dtype=torch.float64) if b is None else b.detach().double()
    return _assemble(q_w, s_w, b, x_scale, x_zero_point, float(layer.scale), int(layer.zero_point), 0, 255)


def input_qparams(graph_module: torch.nn.Module) -> tuple[float, int]:
    """``(scale, zero_point)`` of the first ``torch.quantize_per_tensor`` in a converted FX model's graph:
    how it quantizes its input."""
    graph = getattr(graph_module, "graph", None)
    for node in graph.nodes if graph is not None else []:
        if node.op == "call_function" and node.target is torch.quantize_per_tensor:
            scale, zero_point = (getattr(graph_module, a.target) if hasattr(a, "target") else a for a in node.args[1:3])
            return float(scale), int(zero_point)
    raise ValueError("no input quantization parameters found: is this a model converted by quantize_fx?")
