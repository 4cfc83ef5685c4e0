"""Mini networks for 28×28 inputs built from the blocks (each ≤ about 8 M MACs), and their registry.

All share one plan: a 3×3 stem at full resolution, then stages at 28, 14 and 7 pixels (widths 16/32/64 for
the plain CNN and MobileNet-mini), global average pooling and a linear classifier. They differ only in the
block, so accuracy against MACs compares the blocks. Build one with ``builder(name)``, which has the
signature ``train.train_cached(..., build=...)`` expects: ``build(input_shape, num_classes, **kwargs)``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .blocks import conv_bn_relu, depthwise_separable, fire, inverted_residual, standard_block
from .shuffle import ShuffleUnit

WIDTHS = (16, 32, 64)


def scaled(width: int, alpha: float) -> int:
    """MobileNet's width multiplier: round(α·width), at least 1 channel."""
    if not alpha > 0:
        raise ValueError(f"width multiplier alpha must be > 0, got {alpha}")
    return max(1, int(round(width * alpha)))


def resized(size: int, rho: float) -> int:
    """MobileNet's resolution multiplier: the input side becomes round(ρ·size) pixels."""
    if not 0 < rho <= 1:
        raise ValueError(f"resolution multiplier rho must be in (0, 1], got {rho}")
    return max(1, int(round(size * rho)))


class Resize(nn.Module):
    """Bilinear resize of the input to ``size``×``size`` (the resolution multiplier ρ; 0 MACs counted)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x):
        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        return nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)


class MiniNet(nn.Module):
    """``resize`` → ``features`` → global average pool → ``Linear``. ``features`` ends with ``channels`` maps."""

    def __init__(self, features: nn.Module, channels: int, num_classes: int, resize: nn.Module | None = None):
        super().__init__()
        self.resize = resize or nn.Identity()
        self.features = features
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(self.features(self.resize(x)).mean((2, 3)))


def plain_cnn(input_shape=(1, 28, 28), num_classes: int = 10) -> MiniNet:
    """Six standard 3×3 blocks: 16 @28, 16 @28, 32 @14 (stride 2), 32 @14, 64 @7 (stride 2), 64 @7."""
    a, b, c = WIDTHS
    f = nn.Sequential(standard_block(input_shape[0], a), standard_block(a, a), standard_block(a, b, 2),
                      standard_block(b, b), standard_block(b, c, 2), standard_block(c, c))
    return MiniNet(f, c, num_classes)


def mobilenet_mini(input_shape=(1, 28, 28), num_classes: int = 10, alpha: float = 1.0, rho: float = 1.0) -> MiniNet:
    """The plain CNN with every 3×3 after the stem made depthwise-separable; widths × α, input resized by ρ."""
    a, b, c = (scaled(w, alpha) for w in WIDTHS)
    f = nn.Sequential(standard_block(input_shape[0], a), depthwise_separable(a, a), depthwise_separable(a, b, 2),
                      depthwise_separable(b, b), depthwise_separable(b, c, 2), depthwise_separable(c, c))
    return MiniNet(f, c, num_classes, Resize(resized(input_shape[-1], rho)) if rho != 1 else None)


def squeezenet_mini(input_shape=(1, 28, 28), num_classes: int = 10) -> MiniNet:
    """SqueezeNet's plan: 3×3 stem (32) → max-pool → Fire 64, Fire 64 @14 → max-pool → Fire 128, Fire 128 @7."""
    f = nn.Sequential(conv_bn_relu(input_shape[0], 32), nn.MaxPool2d(2),
                      fire(32, 8, 32, 32), fire(64, 8, 32, 32), nn.MaxPool2d(2),
                      fire(64, 16, 64, 64), fire(128, 16, 64, 64))
    return MiniNet(f, 128, num_classes)


def shufflenet_mini(input_shape=(1, 28, 28), num_classes: int = 10, groups: int = 4, shuffle: bool = True) -> MiniNet:
    """3×3 stem (16) → ShuffleNet units: 64 @14 (stride 2) + 2 @14, 128 @7 (stride 2) + 2 @7; bottleneck c/4."""
    u = lambda ci, co, s: ShuffleUnit(ci, co, groups, s, mid=co // 4, shuffle=shuffle)
    f = nn.Sequential(standard_block(input_shape[0], 16), u(16, 64, 2), u(64, 64, 1), u(64, 64, 1),
                      u(64, 128, 2), u(128, 128, 1), u(128, 128, 1))
    return MiniNet(f, 128, num_classes)


def mobilenetv2_mini(input_shape=(1, 28, 28), num_classes: int = 10, expand_ratio: int = 4) -> MiniNet:
    """3×3 stem (16) → inverted residuals 24 @14 (stride 2), 24 @14, 32 @7 (stride 2), 32 @7 → 1×1 to 128."""
    t = expand_ratio
    f = nn.Sequential(standard_block(input_shape[0], 16), inverted_residual(16, 16, 1, t), inverted_residual(16, 24, 2, t),
                      inverted_residual(24, 24, 1, t), inverted_residual(24, 32, 2, t), inverted_residual(32, 32, 1, t),
                      conv_bn_relu(32, 128, 1))
    return MiniNet(f, 128, num_classes)


MINI_NETS: dict[str, Callable[..., nn.Module]] = {
    "plain_cnn": plain_cnn, "mobilenet_mini": mobilenet_mini, "squeezenet_mini": squeezenet_mini,
    "shufflenet_mini": shufflenet_mini, "mobilenetv2_mini": mobilenetv2_mini,
}
"""name → ``build(input_shape, num_classes, **kwargs)``."""


def builder(name: str) -> Callable[..., nn.Module]:
    """The ``build=`` argument of ``train.train_cached`` for the mini network ``name``."""
    if name not in MINI_NETS:
        raise ValueError(f"unknown mini network {name!r}; known: {', '.join(MINI_NETS)}")
    return MINI_NETS[name]


def build_mini(name: str, input_shape=(1, 28, 28), num_classes: int = 10, **kwargs) -> nn.Module:
    """The mini network ``name`` (untrained)."""
    return builder(name)(input_shape, num_classes, **kwargs)
