"""FreshNets (Chen et al. 2016): hash convolution filters in the frequency domain, low frequencies getting more
buckets, then map back to the spatial filter with the inverse DCT.

``W_spatial[o, i] = Dᵀ · F[o, i] · D`` with D the orthonormal k×k DCT-II matrix and
``F[o, i, u, v] = ξ · w[offset_b + h_b(o, i, u, v)]``: each frequency band b = u + v has its own pool of real
weights, sized by :func:`band_budgets` (more buckets per coefficient at low frequency).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .hash import index_and_sign
from .layers import buckets_for


def dct_matrix(n: int, dtype=torch.float32) -> torch.Tensor:
    """The orthonormal DCT-II matrix: D[u, x] = c_u · √(2/n) · cos(π (2x + 1) u / 2n), c_0 = 1/√2, else 1."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    u = torch.arange(n, dtype=torch.float64)[:, None]
    x = torch.arange(n, dtype=torch.float64)[None, :]
    d = math.sqrt(2 / n) * torch.cos(math.pi * (2 * x + 1) * u / (2 * n))
    d[0] /= math.sqrt(2)
    return d.to(dtype)


def dct2(filters: torch.Tensor) -> torch.Tensor:
    """2-D DCT-II of the last two (k×k) dimensions: D · X · Dᵀ."""
    d = dct_matrix(filters.shape[-1], filters.dtype).to(filters.device)
    return d @ filters @ d.T


def idct2(coefficients: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2` (D is orthonormal): Dᵀ · F · D."""
    d = dct_matrix(coefficients.shape[-1], coefficients.dtype).to(coefficients.device)
    return d.T @ coefficients @ d


def band_budgets(kernel_size: int, coefficients_per_position: int, total: int, decay: float = 1.0) -> list[int]:
    """Real weights of each frequency band b = u + v (0 … 2k−2), summing to ``total``, each ≥ 1.

    Band b has n_b positions (u, v) times ``coefficients_per_position`` coefficients and gets a share of ``total``
    proportional to n_b · (1 − b/(2k−1))^decay: fewer buckets per coefficient at high frequency.
    """
    k = kernel_size
    bands = range(2 * k - 1)
    n = [sum(1 for u in range(k) for v in range(k) if u + v == b) * coefficients_per_position for b in bands]
    score = [n_b * (1 - b / (2 * k - 1)) ** decay for b, n_b in zip(bands, n)]
    if total < len(n):
        raise ValueError(f"K = {total} real weights cannot give each of the {len(n)} frequency bands one")
    raw = [max(1, min(n_b, math.floor(total * s / sum(score)))) for n_b, s in zip(n, score)]
    raw[0] += total - sum(raw)  # the rounding remainder goes to the lowest band
    return raw


def frequency_index(out_channels: int, in_channels: int, kernel_size: int, budgets: list[int], seed: int,
                    layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(index into the real weights, sign), both (out, in, k, k), hashing each band into its own pool."""
    k = kernel_size
    h, xi = index_and_sign(out_channels, in_channels * k * k, 2**31 - 1, seed, layer)
    h, xi = h.view(out_channels, in_channels, k, k), xi.view(out_channels, in_channels, k, k)
    band = (torch.arange(k)[:, None] + torch.arange(k)[None, :]).expand_as(h)
    sizes = torch.tensor(budgets)
    offsets = torch.cumsum(sizes, 0) - sizes
    return offsets[band] + h % sizes[band], xi


class FreshConv2d(nn.Module):
    """A Conv2d whose filters are hashed in the DCT domain (FreshNets); the bias is dense."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, compression: float,
                 seed: int = 0, layer: int = 0, decay: float = 1.0, padding: int = 0):
        super().__init__()
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        if min(shape) < 1:
            raise ValueError(f"channels and kernel_size must be >= 1, got {shape}")
        total = buckets_for(math.prod(shape), compression)
        self.budgets = band_budgets(kernel_size, out_channels * in_channels, total, decay)
        self.in_channels, self.padding = in_channels, padding
        index, sign = frequency_index(out_channels, in_channels, kernel_size, self.budgets, seed, layer)
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("sign", sign, persistent=False)
        self.register_buffer("key", torch.tensor([seed, layer], dtype=torch.int64))
        self.register_buffer("dct", dct_matrix(kernel_size), persistent=False)
        bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)  # D is orthonormal: same variance
        self.weight_real = nn.Parameter(torch.empty(total).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))

    def frequency_weight(self) -> torch.Tensor:
        return self.weight_real[self.index] * self.sign

    @property
    def weight(self) -> torch.Tensor:
        """The spatial filters Dᵀ · F · D, (out, in, k, k)."""
        return self.dct.T @ self.frequency_weight() @ self.dct

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"FreshConv2d expects (N, {self.in_channels}, H, W) inputs, got shape {tuple(x.shape)}")
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)


def high_frequency_energy(filters: torch.Tensor) -> float:
    """Fraction of the filters' energy in DCT bands u + v ≥ k (the upper half of the spectrum)."""
    k = filters.shape[-1]
    c = dct2(filters.detach().double()) ** 2
    high = (torch.arange(k)[:, None] + torch.arange(k)[None, :]) >= k
    return float(c[..., high].sum() / c.sum())


class HashedLeNet5(nn.Module):
    """LeNet-5 (Caffe variant) with conv2 hashed spatially (HashedNets) or in the DCT domain (FreshNets), and fc1
    hashed (HashedNets in both); conv1 and fc2 stay dense (0.5 k and 5 k weights)."""

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, *, conv: str = "fresh",
                 conv_compression: float = 1 / 16, fc_compression: float = 1 / 32, hash_seed: int = 0):
        super().__init__()
        from .layers import HashedConv2d, HashedLinear

        if conv not in ("fresh", "spatial"):
            raise ValueError(f"conv must be 'fresh' or 'spatial', got {conv!r}")
        c, h, w = input_shape
        self.conv1 = nn.Conv2d(c, 20, 5)
        self.conv2 = (FreshConv2d(20, 50, 5, compression=conv_compression, seed=hash_seed, layer=1) if conv == "fresh"
                      else HashedConv2d(20, 50, 5, compression=conv_compression, seed=hash_seed, layer=1))
        self.pool = nn.MaxPool2d(2)
        flat = 50 * (((h - 4) // 2 - 4) // 2) * (((w - 4) // 2 - 4) // 2)
        self.fc1 = HashedLinear(flat, 500, compression=fc_compression, seed=hash_seed, layer=2)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))
