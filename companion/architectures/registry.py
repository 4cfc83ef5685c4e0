"""The blocks side by side at matched channels: one name → (builder, formula), for the counts and timing tables."""
from __future__ import annotations

from torch import nn

from .blocks import (Counts, depthwise_separable, depthwise_separable_counts, fire, fire_counts, inverted_residual,
                     inverted_residual_counts, standard_block, standard_counts, two_3x3, two_3x3_counts)
from .shuffle import ShuffleUnit, shuffle_unit_counts

BLOCKS = ("standard 3×3", "depthwise-separable 3×3", "Fire", "ShuffleNet unit", "ShuffleNet unit, no shuffle",
          "inverted residual", "5×5", "two 3×3")
"""Every block :func:`make_block` builds, all mapping c channels to c channels at stride 1."""


def _fire_split(c: int) -> tuple[int, int, int]:
    """Fire at matched channels: squeeze c/8, expand 1×1 c/2 and 3×3 c/2 (SqueezeNet's ratios)."""
    if c % 8:
        raise ValueError(f"Fire at matched channels needs channels divisible by 8 (squeeze c/8, expand c/2), got {c}")
    return c // 8, c // 2, c // 2


def _check(name: str, channels: int) -> None:
    if name not in BLOCKS:
        raise ValueError(f"unknown block {name!r}; known: {', '.join(BLOCKS)}")
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be a positive integer, got {channels!r}")


def make_block(name: str, channels: int, *, groups: int = 4, expand_ratio: int = 6) -> nn.Module:
    """The block ``name`` (one of :data:`BLOCKS`) with ``channels`` in and out, stride 1.

    ShuffleNet units use ``groups`` and a bottleneck of c/4; the inverted residual expands by ``expand_ratio``;
    the 5×5 is a standard block with a 5×5 kernel.
    """
    _check(name, channels)
    c = channels
    builders = {
        "standard 3×3": lambda: standard_block(c, c),
        "depthwise-separable 3×3": lambda: depthwise_separable(c, c),
        "Fire": lambda: fire(c, *_fire_split(c)),
        "ShuffleNet unit": lambda: ShuffleUnit(c, c, groups),
        "ShuffleNet unit, no shuffle": lambda: ShuffleUnit(c, c, groups, shuffle=False),
        "inverted residual": lambda: inverted_residual(c, c, 1, expand_ratio),
        "5×5": lambda: standard_block(c, c, k=5),
        "two 3×3": lambda: two_3x3(c, c),
    }
    return builders[name]()


def block_counts(name: str, channels: int, h: int, w: int, *, groups: int = 4, expand_ratio: int = 6) -> Counts:
    """Params and MACs of :func:`make_block`'s block on a (1, channels, h, w) input, by formula only."""
    _check(name, channels)
    c = channels
    formulas = {
        "standard 3×3": lambda: standard_counts(c, c, h, w),
        "depthwise-separable 3×3": lambda: depthwise_separable_counts(c, c, h, w),
        "Fire": lambda: fire_counts(c, *_fire_split(c), h, w),
        "ShuffleNet unit": lambda: shuffle_unit_counts(c, c, h, w, groups),
        "ShuffleNet unit, no shuffle": lambda: shuffle_unit_counts(c, c, h, w, groups),
        "inverted residual": lambda: inverted_residual_counts(c, c, h, w, 1, expand_ratio),
        "5×5": lambda: standard_counts(c, c, h, w, k=5),
        "two 3×3": lambda: two_3x3_counts(c, c, h, w),
    }
    return formulas[name]()
