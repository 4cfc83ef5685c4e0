"""The efficient blocks of the survey's §3.1 at matched channels, each with its closed-form params and MACs.

Every block maps ``(N, c_in, H, W)`` to ``(N, c_out, H/s, W/s)``. Convolutions have no bias and are
followed by BatchNorm (2 parameters per channel, 0 MACs: ``FlopCounterMode`` counts only convolutions and
matrix products), except torchvision's ``Fire``, whose convolutions carry biases and no BatchNorm.
A formula function ``*_counts(...)`` returns :class:`Counts` from the shapes alone; the tests check it
against ``measure.count_params`` and ``measure.count_macs`` exactly.

Reused from torchvision (and said so): ``squeezenet.Fire``, ``mobilenetv2.InvertedResidual`` and
``shufflenetv2.channel_shuffle``. Written here: the standard and depthwise-separable 3×3 blocks
(MobileNet v1 is not in torchvision), the ShuffleNet v1 unit (not in torchvision either; after
megvii's ``ShuffleNet-Series/ShuffleNetV1/blocks.py``), and the 5×5 / two-3×3 pair.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.shufflenetv2 import channel_shuffle
from torchvision.models.squeezenet import Fire


@dataclass(frozen=True)
class Counts:
    """Parameters and multiply-accumulates of one block on one ``(1, c, H, W)`` input."""

    params: int
    macs: int


def _positive(**values) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _stride(stride: int) -> None:
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")


def _out(size: int, stride: int) -> int:
    """Output size of a 3×3 (or 5×5) convolution with 'same' padding: ⌈size / stride⌉."""
    return (size + stride - 1) // stride


def conv_bn_relu(c_in: int, c_out: int, k: int = 3, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    """``Conv2d(k×k, 'same' padding, no bias)`` → ``BatchNorm2d`` → ``ReLU`` (optional)."""
    _positive(c_in=c_in, c_out=c_out, k=k, groups=groups)
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide c_in={c_in} and c_out={c_out}")
    layers = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


# ---------------------------------------------------------------- standard, depthwise-separable, 5×5 vs 3×3
def standard_block(c_in: int, c_out: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    """A plain k×k convolution block (conv → BN → ReLU)."""
    _stride(stride)
    return conv_bn_relu(c_in, c_out, k, stride)


def standard_counts(c_in: int, c_out: int, h: int, w: int, stride: int = 1, k: int = 3) -> Counts:
    """params = k²·c_in·c_out + 2·c_out;  MACs = H'W'·k²·c_in·c_out."""
    _positive(c_in=c_in, c_out=c_out, h=h, w=w)
    ho, wo = _out(h, stride), _out(w, stride)
    return Counts(k * k * c_in * c_out + 2 * c_out, ho * wo * k * k * c_in * c_out)


def depthwise_separable(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """MobileNet's block (Howard et al. 2017): depthwise 3×3 (groups = c_in) → BN → ReLU → pointwise 1×1 → BN → ReLU."""
    _stride(stride)
    return nn.Sequential(conv_bn_relu(c_in, c_in, 3, stride, groups=c_in), conv_bn_relu(c_in, c_out, 1))


def depthwise_separable_counts(c_in: int, c_out: int, h: int, w: int, stride: int = 1) -> Counts:
    """params = 9·c_in + 2·c_in + c_in·c_out + 2·c_out;  MACs = H'W'·(9·c_in + c_in·c_out).

    Against the standard 3×3: MACs ratio = 1/c_out + 1/9 (MobileNets, eq. 5, with D_K = 3, N = c_out).
    """
    _positive(c_in=c_in, c_out=c_out, h=h, w=w)
    ho, wo = _out(h, stride), _out(w, stride)
    return Counts(11 * c_in + c_in * c_out + 2 * c_out, ho * wo * (9 * c_in + c_in * c_out))


def two_3x3(c_in: int, c_out: int) -> nn.Sequential:
    """Two stacked 3×3 blocks: the receptive field of one 5×5 (Szegedy et al. 2016), 18/25 of its MACs at c_in = c_out."""
    return nn.Sequential(standard_block(c_in, c_out), standard_block(c_out, c_out))


def two_3x3_counts(c_in: int, c_out: int, h: int, w: int) -> Counts:
    """params = 9·c_in·c_out + 9·c_out² + 4·c_out;  MACs = HW·9·c_out·(c_in + c_out)."""
    _positive(c_in=c_in, c_out=c_out, h=h, w=w)
    return Counts(9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out, h * w * 9 * c_out * (c_in + c_out))


# ---------------------------------------------------------------- Fire (torchvision)
def fire(c_in: int, squeeze: int, expand1x1: int, expand3x3: int) -> Fire:
    """SqueezeNet's Fire module (Iandola et al. 2016), torchvision's own ``squeezenet.Fire``:
    squeeze 1×1 → ReLU → concat(expand 1×1, expand 3×3) → ReLU; output channels e1 + e3. Convs have biases."""
    _positive(c_in=c_in, squeeze=squeeze, expand1x1=expand1x1, expand3x3=expand3x3)
    return Fire(c_in, squeeze, expand1x1, expand3x3)


def fire_counts(c_in: int, squeeze: int, expand1x1: int, expand3x3: int, h: int, w: int) -> Counts:
    """params = (c_in + 1)·s + (s + 1)·e1 + (9s + 1)·e3;  MACs = HW·s·(c_in + e1 + 9·e3)."""
    _positive(c_in=c_in, squeeze=squeeze, expand1x1=expand1x1, expand3x3=expand3x3, h=h, w=w)
    s, e1, e3 = squeeze, expand1x1, expand3x3
    return Counts((c_in + 1) * s + (s + 1) * e1 + (9 * s + 1) * e3, h * w * s * (c_in + e1 + 9 * e3))


# ---------------------------------------------------------------- MobileNetV2 inverted residual (torchvision)
def inverted_residual(c_in: int, c_out: int, stride: int = 1, expand_ratio: int = 6) -> InvertedResidual:
    """MobileNetV2's inverted residual with linear bottleneck (Sandler et al. 2018), torchvision's own
    ``mobilenetv2.InvertedResidual``: 1×1 expand (t·c_in) → ReLU6 → depthwise 3×3 → ReLU6 → 1×1 project (no
    activation); residual when stride 1 and c_in = c_out."""
    _positive(c_in=c_in, c_out=c_out, expand_ratio=expand_ratio)
    _stride(stride)
    return InvertedResidual(c_in, c_out, stride, expand_ratio)


def inverted_residual_counts(c_in: int, c_out: int, h: int, w: int, stride: int = 1, expand_ratio: int = 6) -> Counts:
    """With m = t·c_in: params = c_in·m + 2m (absent at t = 1) + 9m + 2m + m·c_out + 2·c_out;
    MACs = HW·c_in·m + H'W'·m·(9 + c_out) (MobileNetV2 Table 1: h·w·d′·t·(d′ + k² + d″) at stride 1)."""
    _positive(c_in=c_in, c_out=c_out, h=h, w=w, expand_ratio=expand_ratio)
    m = int(round(c_in * expand_ratio))
    ho, wo = _out(h, stride), _out(w, stride)
    expand = (c_in * m + 2 * m, h * w * c_in * m) if expand_ratio != 1 else (0, 0)
    return Counts(expand[0] + 11 * m + m * c_out + 2 * c_out, expand[1] + ho * wo * m * (9 + c_out))
