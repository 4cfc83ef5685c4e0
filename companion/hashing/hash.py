"""A vectorised, seeded 32-bit integer hash in torch: the bucket index h and the sign ξ of HashedNets.

Chen et al. (2015) hash the key (layer, row i, column j) with xxhash; any approximately uniform and independent
hash will do. Here each step is murmur3's 32-bit finaliser (``fmix32``) on int64 tensors masked to 32 bits, so the
same (seed, layer, i, j) gives the same bucket on every machine, in a few tensor operations per virtual weight.
"""
from __future__ import annotations

import torch

HASH_VERSION = 2  # bump whenever the hash changes: a file's real weights only mean something under its own hash
MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B1  # 2^32 / golden ratio: spreads consecutive column numbers before mixing
SIGN_SALT = 0x5BD1E995  # a different key for the sign hash ξ, so ξ is independent of h


def fmix32(h: torch.Tensor) -> torch.Tensor:
    """Murmur3's finaliser on int64 ``h`` holding values in [0, 2^32): a bijection of 32-bit words.

    h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16 (each product masked to 32 bits;
    int64 products wrap, and their low 32 bits are exact).
    """
    h = h ^ (h >> 16)
    h.mul_(0x85EBCA6B).bitwise_and_(MASK32)
    h ^= h >> 13
    h.mul_(0xC2B2AE35).bitwise_and_(MASK32)
    h ^= h >> 16
    return h


def _check_key(seed: int, layer: int) -> None:
    for name, v in (("seed", seed), ("layer", layer)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}")


def hash32(rows: int, cols: int, seed: int, layer: int, salt: int = 0) -> torch.Tensor:
    """32-bit hashes (int64, shape rows×cols) of the keys (seed, layer, salt, i, j) for i < rows, j < cols.

    One ``fmix32`` per row key (already mixed with the seed and layer), then one per entry of
    ``row_hash[i] + GOLDEN·j``: each entry costs one finaliser, about ten whole-tensor integer operations.
    """
    _check_key(seed, layer)
    if rows < 1 or cols < 1:
        raise ValueError(f"rows and cols must be >= 1, got {rows}×{cols}")
    base = fmix32(torch.tensor((seed * 0x27D4EB2F + layer * 0x165667B1 + salt) & MASK32, dtype=torch.int64))
    r = fmix32((base ^ torch.arange(rows, dtype=torch.int64)) & MASK32)
    c = (torch.arange(cols, dtype=torch.int64) * GOLDEN) & MASK32
    h = (r[:, None] + c[None, :]).bitwise_and_(MASK32)
    return fmix32(h)


def check_buckets(buckets) -> None:
    if not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1:
        raise ValueError(f"the number of real weights K (buckets) must be an integer >= 1, got {buckets!r}")


def index_and_sign(rows: int, cols: int, buckets: int, seed: int, layer: int = 0,
                   salt: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """h(i, j) ∈ {0, …, K−1} (int64) and ξ(i, j) ∈ {−1, +1} (float32), both rows×cols, from one 32-bit hash.

    h = (low 31 bits) mod K and ξ = 1 − 2·(bit 31): disjoint bits of a well-mixed word, so ξ is independent of h
    (exactly when K is a power of two, up to a bias below K/2^31 otherwise).
    """
    check_buckets(buckets)
    h = hash32(rows, cols, seed, layer, salt)
    sign = (h >> 31).mul_(-2).add_(1).to(torch.float32)
    return h.bitwise_and_(0x7FFFFFFF).remainder_(buckets), sign


def bucket_index(rows: int, cols: int, buckets: int, seed: int, layer: int = 0, salt: int = 0) -> torch.Tensor:
    """h(i, j) ∈ {0, …, buckets−1}: which real weight fills virtual entry (i, j) (int64, rows×cols)."""
    return index_and_sign(rows, cols, buckets, seed, layer, salt)[0]


def sign_hash(rows: int, cols: int, seed: int, layer: int = 0, salt: int = 0) -> torch.Tensor:
    """ξ(i, j) ∈ {−1, +1} (float32, rows×cols): the sign hash that makes the shared-weight products unbiased."""
    return index_and_sign(rows, cols, 1, seed, layer, salt)[1]


def chi_square(index: torch.Tensor, buckets: int) -> tuple[float, int]:
    """Pearson's χ² of the bucket counts of ``index`` against the uniform law, and its degrees of freedom."""
    counts = torch.bincount(index.reshape(-1), minlength=buckets).double()
    expected = index.numel() / buckets
    return float(((counts - expected) ** 2 / expected).sum()), buckets - 1
