"""LeNet-300-100-shaped networks for the HashedNets protocol, and the equal-storage baselines it is judged against.

Chen et al. (2015) compare, at the same number K of stored floats: HashNet, an equal-size dense net (NN), random
edge removal (RER: a fixed random mask of K connections) and a low-rank decomposition (LRD). :func:`build` makes
any of them from JSON-able arguments, so ``train.train_cached(..., build=hashing.build)`` caches them.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import HashedLinear, buckets_for

KINDS = ("dense", "hashed", "equal", "rer", "lowrank")


def _check_hidden(hidden) -> tuple[int, ...]:
    hidden = tuple(hidden)
    if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a non-empty list of widths >= 1, got {hidden!r}")
    return hidden


class MLP(nn.Module):
    """Flatten, then ``layers`` with ReLU between them (the LeNet-300-100 shape with any layers)."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.features = nn.Flatten()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        x = self.features(x)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def widths(in_features: int, hidden, num_classes: int) -> list[tuple[int, int]]:
    """(fan-in, fan-out) of each layer of an MLP ``in_features``-``hidden``-``num_classes``."""
    sizes = [in_features, *_check_hidden(hidden), num_classes]
    return list(zip(sizes[:-1], sizes[1:]))


def hashed_mlp(compression: float, hidden=(300, 100), in_features: int = 784, num_classes: int = 10,
               seed: int = 0, mode: str = "gather", sign: bool = True) -> MLP:
    """A HashedNet: every layer hashed with K_l = round(compression · fan-in · fan-out), one hash key per layer."""
    return MLP([HashedLinear(i, o, compression=compression, seed=seed, layer=n, mode=mode, sign=sign)
                for n, (i, o) in enumerate(widths(in_features, hidden, num_classes))])


def hashed_budget(compression: float, hidden=(300, 100), in_features: int = 784, num_classes: int = 10) -> int:
    """Floats stored by :func:`hashed_mlp`: Σ K_l plus the (dense) biases."""
    return sum(buckets_for(i * o, compression) + o for i, o in widths(in_features, hidden, num_classes))


def inflation_compression(width: int, budget: int, in_features: int = 784, num_classes: int = 10) -> float:
    """The compression at which a HashNet 784-width-width/3-10 stores about ``budget`` floats (weights + biases)."""
    hidden = [width, max(1, width // 3)]
    biases = sum(hidden) + num_classes
    virtual = sum(i * o for i, o in widths(in_features, hidden, num_classes))
    if budget <= biases + 3:
        raise ValueError(f"budget {budget} leaves no real weights after the {biases} biases of width {width}")
    return min(1.0, (budget - biases) / virtual)


def mlp_params(in_features: int, hidden, num_classes: int) -> int:
    return sum(i * o + o for i, o in widths(in_features, hidden, num_classes))


def equal_hidden(budget: int, hidden=(300, 100), in_features: int = 784, num_classes: int = 10) -> list[int]:
    """The widest dense MLP with the proportions of ``hidden`` and at most ``budget`` parameters (≥ 1 unit each)."""
    hidden = _check_hidden(hidden)
    best = [1] * len(hidden)
    for first in range(1, hidden[0] + 1):
        cand = [max(1, round(first * h / hidden[0])) for h in hidden]
        if mlp_params(in_features, cand, num_classes) > budget:
            break
        best = cand
    return best


class MaskedLinear(nn.Linear):
    """Random edge removal: a Linear whose weight is multiplied by a fixed seeded mask of ``keep`` ones."""

    def __init__(self, in_features: int, out_features: int, keep: int, seed: int = 0, layer: int = 0):
        super().__init__(in_features, out_features)
        if not 1 <= keep <= in_features * out_features:
            raise ValueError(f"keep must be in [1, {in_features * out_features}], got {keep}")
        g = torch.Generator().manual_seed(seed * 1000 + layer)
        mask = torch.zeros(in_features * out_features)
        mask[torch.randperm(mask.numel(), generator=g)[:keep]] = 1
        self.register_buffer("mask", mask.view(out_features, in_features), persistent=False)
        self.key = (seed, layer)

    def forward(self, x):
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


def compact_rer(model: nn.Module) -> dict[str, torch.Tensor]:
    """What a RER model must really store: per layer the kept values (float32) and their flat positions (int32)."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, MaskedLinear):
            pos = m.mask.flatten().nonzero().flatten()
            out[f"{name}.values"] = m.weight.detach().flatten()[pos].clone()
            out[f"{name}.positions"] = pos.to(torch.int32)
            out[f"{name}.bias"] = m.bias.detach().clone()
    return out


def low_rank_linear(in_features: int, out_features: int, rank: int) -> nn.Sequential:
    """W ≈ U·V: Linear(in → rank, no bias) then Linear(rank → out): rank·(in + out) + out parameters."""
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    return nn.Sequential(nn.Linear(in_features, rank, bias=False), nn.Linear(rank, out_features))


def low_rank_ranks(layers: list[tuple[int, int]], budget: int) -> list[int]:
    """Ranks of the hidden layers (the output layer stays dense) at a common fraction α of their full rank,
    α the largest with Σ rank·(in + out) + biases + the dense output layer ≤ ``budget`` (each rank ≥ 1)."""
    *hidden, (i_out, o_out) = layers
    spare = budget - (i_out * o_out + o_out) - sum(o for _, o in hidden)
    ranks = [1] * len(hidden)
    for step in range(1, 1001):
        cand = [max(1, round(step / 1000 * min(i, o))) for i, o in hidden]
        if sum(r * (i + o) for r, (i, o) in zip(cand, hidden)) > spare:
            break
        ranks = cand
    return ranks


def build(input_shape=(1, 28, 28), num_classes: int = 10, *, kind: str = "hashed", compression: float = 1.0,
          hidden=(300, 100), hash_seed: int = 0) -> nn.Module:
    """One network of the protocol at ``compression``: ``kind`` is one of :data:`KINDS`.

    dense: the uncompressed MLP; hashed: :func:`hashed_mlp`; equal: the dense MLP with as many floats as the
    HashNet (:func:`equal_hidden`); rer: the full-width MLP with K_l random connections per layer; lowrank: the hidden
    layers factorised at a common fraction of their rank (:func:`low_rank_ranks`), the small output layer dense.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    hidden = _check_hidden(hidden)
    in_features = 1
    for d in input_shape:
        in_features *= d
    layers = widths(in_features, hidden, num_classes)
    buckets_for(1, compression)  # validates compression
    if kind == "hashed":
        return hashed_mlp(compression, hidden, in_features, num_classes, hash_seed)
    if kind == "dense":
        return MLP([nn.Linear(i, o) for i, o in layers])
    if kind == "equal":
        small = equal_hidden(hashed_budget(compression, hidden, in_features, num_classes), hidden, in_features,
                             num_classes)
        return MLP([nn.Linear(i, o) for i, o in widths(in_features, small, num_classes)])
    if kind == "rer":
        return MLP([MaskedLinear(i, o, buckets_for(i * o, compression), hash_seed, n) for n, (i, o) in enumerate(layers)])
    ranks = low_rank_ranks(layers, hashed_budget(compression, hidden, in_features, num_classes))
    return MLP([*(low_rank_linear(i, o, r) for r, (i, o) in zip(ranks, layers)), nn.Linear(*layers[-1])])


def stored_params(model: nn.Module) -> int:
    """Floats the method must store: parameters, except that a RER layer stores only its kept weights."""
    total = 0
    for m in model.modules():
        if isinstance(m, MaskedLinear):
            total += int(m.mask.sum()) + m.out_features
        else:
            total += sum(p.numel() for p in m.parameters(recurse=False))
    return total
