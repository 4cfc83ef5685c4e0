"""FunHashNN (Shi, Feng & Zhu 2016): U hash functions fetch U signed values per virtual weight from the K real
weights, and a small reconstruction network g: R^U → R (shared by the layer) turns them into the entry:

    V[i, j] = g(ξ_1(i, j)·w[h_1(i, j)], …, ξ_U(i, j)·w[h_U(i, j)]).

With U = 1 and g the identity this is exactly HashedNets (hash u uses salt u; salt 0 is HashedNets' hash).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .hash import check_buckets, index_and_sign


class Reconstruction(nn.Module):
    """g(v) = a·v + MLP(v): a linear skip (a = 1/U at init) plus a U→hidden→1 ReLU MLP whose output starts at 0."""

    def __init__(self, hashes: int, hidden: int):
        super().__init__()
        self.skip = nn.Parameter(torch.full((hashes,), 1 / hashes))
        self.mlp = nn.Sequential(nn.Linear(hashes, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, v: torch.Tensor) -> torch.Tensor:  # v: (..., U)
        return v @ self.skip + self.mlp(v).squeeze(-1)


class FunHashLinear(nn.Module):
    """A Linear whose weight is reconstructed from U hashed looks-ups of K real weights (FunHashNN)."""

    def __init__(self, in_features: int, out_features: int, buckets: int, *, hashes: int = 1,
                 reconstruction: str = "identity", hidden: int = 8, seed: int = 0, layer: int = 0):
        super().__init__()
        check_buckets(buckets)
        if hashes < 1:
            raise ValueError(f"hashes (U) must be >= 1, got {hashes}")
        if reconstruction not in ("identity", "mlp"):
            raise ValueError(f"reconstruction must be 'identity' or 'mlp', got {reconstruction!r}")
        if reconstruction == "identity" and hashes != 1:
            raise ValueError(f"the identity reconstruction needs exactly one hash, got hashes={hashes}")
        self.in_features = in_features
        tables = [index_and_sign(out_features, in_features, buckets, seed, layer, salt=u) for u in range(hashes)]
        self.register_buffer("index", torch.stack([t[0] for t in tables], -1), persistent=False)  # (out, in, U)
        self.register_buffer("sign", torch.stack([t[1] for t in tables], -1), persistent=False)
        self.register_buffer("key", torch.tensor([seed, layer], dtype=torch.int64))
        bound = 1 / math.sqrt(in_features)
        self.weight_real = nn.Parameter(torch.empty(buckets).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.g = Reconstruction(hashes, hidden) if reconstruction == "mlp" else None

    @property
    def weight(self) -> torch.Tensor:
        values = self.weight_real[self.index] * self.sign  # (out, in, U)
        return values.squeeze(-1) if self.g is None else self.g(values)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"FunHashLinear expects inputs with {self.in_features} features, got shape {tuple(x.shape)}")
        return F.linear(x, self.weight, self.bias)
