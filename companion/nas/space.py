"""The search space: a stem, three searchable blocks (operation × width) and a classifier head.

An architecture is a tuple of decisions, one integer per choice: ``(op₁, width₁, op₂, width₂, op₃, width₃)``
indexes :attr:`SearchSpace.ops` and :attr:`SearchSpace.widths`. The strategies only see the number of options
of each decision (:attr:`SearchSpace.cardinalities`); the generic helpers at the bottom (mixed-radix
index, sampling, one-hop neighbours, mutation) work for any cardinalities, which is what the tests use.

The space is the "macro" search space of MnasNet/ProxylessNAS/FBNet made small: per block one
operation among a plain 3×3 or 5×5 convolution, MobileNet's depthwise-separable 3×3 (Howard et al. 2017)
and MobileNetV2's inverted residual (Sandler et al. 2018), and a width multiplier.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import nn

OPS = ("conv3x3", "conv5x5", "dwsep3x3", "mbconv3x3")
WIDTHS = (0.5, 1.0)


def make_op(name: str, cin: int, cout: int, stride: int, expand_ratio: int = 3) -> nn.Module:
    """One searchable operation (conv → BN → ReLU blocks from torchvision), ``cin`` → ``cout`` channels.

    ``conv3x3``/``conv5x5``: a k×k convolution; ``dwsep3x3``: depthwise 3×3 then pointwise 1×1 (MobileNet);
    ``mbconv3x3``: 1×1 expansion by ``expand_ratio``, depthwise 3×3, linear 1×1 projection, with a residual
    connection when shapes allow (MobileNetV2's ``InvertedResidual``).
    """
    from torchvision.models.mobilenetv2 import InvertedResidual
    from torchvision.ops import Conv2dNormActivation

    if name == "conv3x3":
        return Conv2dNormActivation(cin, cout, 3, stride)
    if name == "conv5x5":
        return Conv2dNormActivation(cin, cout, 5, stride)
    if name == "dwsep3x3":
        return nn.Sequential(Conv2dNormActivation(cin, cin, 3, stride, groups=cin), Conv2dNormActivation(cin, cout, 1))
    if name == "mbconv3x3":
        return InvertedResidual(cin, cout, stride, expand_ratio)
    raise ValueError(f"unknown operation {name!r}; allowed: {', '.join(OPS)}")


class Network(nn.Module):
    """A network of the space: ``stem`` (3×3 conv), ``blocks`` (one op each), ``head`` (global average pool, linear)."""

    def __init__(self, stem: nn.Module, blocks: list[nn.Module], head_in: int, num_classes: int, arch: tuple = ()):
        super().__init__()
        self.arch = tuple(arch)
        self.stem = stem
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(head_in, num_classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


@dataclass(frozen=True)
class SearchSpace:
    """Three blocks of base ``channels`` and ``strides``; each picks one of ``ops`` and one of ``widths``
    (channels = round(base × width)). 4 ops × 2 widths over 3 blocks = 512 architectures by default.

    On 28×28 inputs: stem 3×3 conv 1 → 8 channels at 28×28; blocks at 14×14 (16 base channels), 7×7 (32)
    and 7×7 (64); global average pool and a linear classifier. Every network has 0.13–3.8 M MACs.
    """

    ops: tuple[str, ...] = OPS
    widths: tuple[float, ...] = WIDTHS
    channels: tuple[int, ...] = (16, 32, 64)
    strides: tuple[int, ...] = (2, 2, 1)
    stem_channels: int = 8
    expand_ratio: int = 3

    def __post_init__(self):
        bad = [o for o in self.ops if o not in OPS]
        if bad or not self.ops or len(set(self.ops)) != len(self.ops):
            raise ValueError(f"ops must be distinct names among {', '.join(OPS)}, got {self.ops}")
        if not self.widths or any(not 0 < w <= 4 for w in self.widths):
            raise ValueError(f"widths must be multipliers in (0, 4], got {self.widths}")
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ValueError(f"channels and strides need one entry per block, got {self.channels} and {self.strides}")
        if any(s not in (1, 2) for s in self.strides) or any(c < 2 for c in self.channels):
            raise ValueError(f"strides must be 1 or 2 and channels >= 2, got {self.strides} and {self.channels}")
        if self.stem_channels < 1 or self.expand_ratio < 1:
            raise ValueError(f"stem_channels and expand_ratio must be >= 1, got {self.stem_channels}, {self.expand_ratio}")

    @property
    def blocks(self) -> int:
        return len(self.channels)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Options per decision: (ops, widths) for every block."""
        return (len(self.ops), len(self.widths)) * self.blocks

    @property
    def size(self) -> int:
        return math.prod(self.cardinalities)

    def as_dict(self) -> dict:
        return {"ops": list(self.ops), "widths": list(self.widths), "channels": list(self.channels),
                "strides": list(self.strides), "stem_channels": self.stem_channels, "expand_ratio": self.expand_ratio}

    def encode(self, arch) -> int:
        """The architecture's index in [0, size): the mixed-radix number of its decisions."""
        return encode(arch, self.cardinalities)

    def decode(self, index: int) -> tuple[int, ...]:
        return decode(index, self.cardinalities)

    def choices(self, arch) -> list[tuple[str, float]]:
        """``[(op name, width), ...]`` per block."""
        arch = check_arch(arch, self.cardinalities)
        return [(self.ops[arch[2 * b]], self.widths[arch[2 * b + 1]]) for b in range(self.blocks)]

    def name(self, arch) -> str:
        """A readable, unique name: ``conv3x3@0.5/dwsep3x3@1/mbconv3x3@1``."""
        return "/".join(f"{op}@{w:g}" for op, w in self.choices(arch))

    def parse(self, name: str) -> tuple[int, ...]:
        """The inverse of :meth:`name`."""
        parts = name.split("/")
        if len(parts) != self.blocks:
            raise ValueError(f"{name!r} names {len(parts)} blocks; the space has {self.blocks} (op@width/...)")
        arch = []
        for part in parts:
            op, _, width = part.partition("@")
            if op not in self.ops:
                raise ValueError(f"unknown operation {op!r} in {name!r}; allowed: {', '.join(self.ops)}")
            w = [i for i, x in enumerate(self.widths) if width and math.isclose(x, float(width))]
            if not w:
                raise ValueError(f"width {width!r} in {name!r} is not one of {self.widths}")
            arch += [self.ops.index(op), w[0]]
        return tuple(arch)

    def layers(self, arch) -> list[tuple[str, int, int, int]]:
        """``[(op, cin, cout, stride), ...]`` per block: what :meth:`build` makes."""
        cin, out = self.stem_channels, []
        for (op, w), base, stride in zip(self.choices(arch), self.channels, self.strides):
            cout = max(1, round(base * w))
            out.append((op, cin, cout, stride))
            cin = cout
        return out

    def build(self, arch, input_shape=(1, 28, 28), num_classes: int = 10) -> Network:
        """The network of ``arch``; its initial weights come from the global torch RNG (seed it, or use
        :func:`torch.random.fork_rng`)."""
        from torchvision.ops import Conv2dNormActivation

        layers = self.layers(arch)
        blocks = [make_op(op, cin, cout, s, self.expand_ratio) for op, cin, cout, s in layers]
        stem = Conv2dNormActivation(input_shape[0], self.stem_channels, 3)
        return Network(stem, blocks, layers[-1][2], num_classes, arch=check_arch(arch, self.cardinalities))

    def all(self) -> list[tuple[int, ...]]:
        """Every architecture, in index order."""
        return [self.decode(i) for i in range(self.size)]


# ---------------------------------------------------------------- decisions: pure helpers on cardinalities
def check_arch(arch, cardinalities) -> tuple[int, ...]:
    """``arch`` as a tuple of ints, or ValueError if it is not in the space of ``cardinalities``."""
    arch = tuple(int(a) for a in arch)
    if len(arch) != len(cardinalities) or any(not 0 <= a < c for a, c in zip(arch, cardinalities)):
        raise ValueError(f"architecture {arch} is not in the space: it needs {len(cardinalities)} decisions "
                         f"with options {list(cardinalities)} (each in [0, options))")
    return arch


def encode(arch, cardinalities) -> int:
    """Mixed-radix index: ``Σ_i a_i · Π_{j>i} c_j`` (the first decision is the most significant)."""
    index = 0
    for a, c in zip(check_arch(arch, cardinalities), cardinalities):
        index = index * c + a
    return index


def decode(index: int, cardinalities) -> tuple[int, ...]:
    """The inverse of :func:`encode`."""
    if not 0 <= index < math.prod(cardinalities):
        raise ValueError(f"index must be in [0, {math.prod(cardinalities)}), got {index}")
    arch = []
    for c in reversed(cardinalities):
        index, a = divmod(index, c)
        arch.append(a)
    return tuple(reversed(arch))


def sample(cardinalities, rng: np.random.Generator) -> tuple[int, ...]:
    """A uniformly random architecture."""
    return tuple(int(rng.integers(c)) for c in cardinalities)


def neighbours(arch, cardinalities) -> list[tuple[int, ...]]:
    """Every architecture that differs from ``arch`` in exactly one decision (the one-hop neighbourhood)."""
    arch = check_arch(arch, cardinalities)
    return [arch[:i] + (v,) + arch[i + 1:] for i, c in enumerate(cardinalities) for v in range(c) if v != arch[i]]


def mutate(arch, cardinalities, rng: np.random.Generator) -> tuple[int, ...]:
    """One decision, chosen uniformly, set to a different option, chosen uniformly (Real et al. 2019)."""
    arch = check_arch(arch, cardinalities)
    free = [i for i, c in enumerate(cardinalities) if c > 1]
    if not free:
        return arch
    i = free[int(rng.integers(len(free)))]
    v = int(rng.integers(cardinalities[i] - 1))
    return arch[:i] + (v + (v >= arch[i]),) + arch[i + 1:]
