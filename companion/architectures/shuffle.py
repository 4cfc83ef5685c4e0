"""ShuffleNet v1's unit: pointwise *group* convolutions with a channel shuffle between them (Zhang et al. 2018).

Group convolutions cut a 1×1's MACs by g, but each output group then sees only its own input group; the
shuffle (torchvision's ``shufflenetv2.channel_shuffle``: view (N, g, C/g, H, W) → transpose → flatten)
lets information cross groups. It is a pure memory copy: 0 MACs, but real time. Not in torchvision (which
has ShuffleNet v2 only); written after megvii's ``ShuffleNet-Series/ShuffleNetV1/blocks.py``.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models.shufflenetv2 import channel_shuffle

from .blocks import Counts, _out, _positive, _stride, conv_bn_relu


def check_groups(channels: int, groups: int, what: str = "channels") -> None:
    """Raise a clear ``ValueError`` unless ``groups`` is a positive integer dividing ``channels``."""
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    if channels % groups:
        raise ValueError(f"groups={groups} must divide {what}={channels}")


def shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Channel shuffle of ``x`` (N, C, H, W) with ``groups`` groups (torchvision's ``channel_shuffle``).

    Channel ``i·(C/g) + j`` moves to ``j·g + i``: a permutation, undone by :func:`unshuffle`.
    """
    check_groups(x.shape[1], groups)
    return channel_shuffle(x, groups)


def unshuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """The inverse of :func:`shuffle`: a shuffle with ``C / groups`` groups."""
    check_groups(x.shape[1], groups)
    return channel_shuffle(x, x.shape[1] // groups)


class ShuffleUnit(nn.Module):
    """ShuffleNet v1 unit: 1×1 group conv (c_in → mid) → BN → ReLU → shuffle → 3×3 depthwise (stride s) → BN →
    1×1 group conv → BN, added to the input (stride 1, c_out = c_in) or concatenated with a 3×3 average pool of
    it (stride 2, the branch gives c_out − c_in channels); then ReLU. ``shuffle=False`` drops the shuffle (the
    ablation of the paper's Table 3)."""

    def __init__(self, c_in: int, c_out: int, groups: int = 4, stride: int = 1, mid: int | None = None,
                 shuffle: bool = True):
        super().__init__()
        _stride(stride)
        mid = mid or c_out // 4
        _positive(c_in=c_in, c_out=c_out, mid=mid)
        branch_out = c_out if stride == 1 else c_out - c_in
        if stride == 1 and c_in != c_out:
            raise ValueError(f"a stride-1 unit is residual: c_out must equal c_in={c_in}, got {c_out}")
        if branch_out < 1:
            raise ValueError(f"a stride-2 unit concatenates its input: c_out must exceed c_in={c_in}, got {c_out}")
        for name, c in (("c_in", c_in), ("mid", mid), ("c_out - c_in" if stride == 2 else "c_out", branch_out)):
            check_groups(c, groups, name)
        self.groups, self.stride, self.shuffle = groups, stride, shuffle
        self.reduce = conv_bn_relu(c_in, mid, 1, groups=groups)
        self.depthwise = conv_bn_relu(mid, mid, 3, stride, groups=mid, relu=False)
        self.expand = conv_bn_relu(mid, branch_out, 1, groups=groups, relu=False)
        self.pool = nn.AvgPool2d(3, 2, 1) if stride == 2 else None

    def forward(self, x):
        y = self.reduce(x)
        if self.shuffle:
            y = channel_shuffle(y, self.groups)
        y = self.expand(self.depthwise(y))
        return torch.relu(x + y if self.pool is None else torch.cat([self.pool(x), y], 1))


def shuffle_unit_counts(c_in: int, c_out: int, h: int, w: int, groups: int = 4, stride: int = 1,
                        mid: int | None = None) -> Counts:
    """With m = mid and b = c_out (stride 1) or c_out − c_in (stride 2):
    params = c_in·m/g + 2m + 9m + 2m + m·b/g + 2b;  MACs = HW·c_in·m/g + H'W'·(9m + m·b/g).
    At stride 1 that is ShuffleNet's hw(2cm/g + 9m) (§3.3); the shuffle adds nothing."""
    _positive(c_in=c_in, c_out=c_out, h=h, w=w)
    m = mid or c_out // 4
    b = c_out if stride == 1 else c_out - c_in
    ho, wo = _out(h, stride), _out(w, stride)
    return Counts(c_in * m // groups + 13 * m + m * b // groups + 2 * b,
                  h * w * c_in * m // groups + ho * wo * (9 * m + m * b // groups))
