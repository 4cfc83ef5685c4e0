"""The two bit packers of the companion, named by bit order so they cannot be confused.

- :func:`pack_ints_msb`: non-negative integers of ``bits`` bits each into a byte stream, most significant
  bit first (relative indices, k-means codes of the sparse and Deep Compression files).
- :func:`pack_bits_lsb64`: booleans into little-endian 64-bit words, element ``i`` at bit ``i % 64`` of word
  ``i // 64`` (the bit planes of packed binary layers, read by the XNOR-popcount kernels).
"""
from __future__ import annotations

import numpy as np

WORD = 64


def check_width(bits: int) -> None:
    """``bits`` must be an integer in [1, 16] (the widths the MSB-first packer handles)."""
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise ValueError(f"index_bits must be an integer in [1, 16], got {bits!r}")


def pack_ints_msb(ints: np.ndarray, bits: int) -> bytes:
    """Pack non-negative integers below ``2**bits`` into ``ceil(n·bits/8)`` bytes, MSB first."""
    check_width(bits)
    ints = np.asarray(ints, dtype=np.int64)
    if len(ints) and (ints.min() < 0 or ints.max() >= 1 << bits):
        raise ValueError(f"values must be in [0, {1 << bits}) to pack in {bits} bits")
    bitmat = (ints[:, None] >> np.arange(bits - 1, -1, -1)) & 1
    return np.packbits(bitmat.astype(np.uint8).ravel()).tobytes()


def unpack_ints_msb(data: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_ints_msb`: ``count`` integers of ``bits`` bits each (``uint16``)."""
    check_width(bits)
    flat = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[:count * bits]
    if len(flat) < count * bits:
        raise ValueError(f"{len(data)} bytes hold fewer than {count} values of {bits} bits")
    weights = 1 << np.arange(bits - 1, -1, -1)
    return (flat.reshape(count, bits).astype(np.int64) @ weights).astype(np.uint16)


def n_words(n: int) -> int:
    """64-bit words needed for ``n`` bits: ⌈n / 64⌉."""
    return -(-int(n) // WORD)


def pack_bits_lsb64(bits) -> np.ndarray:
    """Booleans (..., n) → uint64 words (..., ⌈n/64⌉); bit i of word k is element 64k + i, padding 0."""
    bits = np.asarray(bits, dtype=bool)
    if bits.ndim == 0 or bits.shape[-1] == 0:
        raise ValueError(f"need at least one element along the last axis, got shape {bits.shape}")
    packed = np.packbits(bits, axis=-1, bitorder="little")
    pad = n_words(bits.shape[-1]) * 8 - packed.shape[-1]
    packed = np.concatenate([packed, np.zeros(packed.shape[:-1] + (pad,), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits_lsb64(words: np.ndarray, n: int) -> np.ndarray:
    """uint64 words (..., w) → booleans (..., n); the inverse of :func:`pack_bits_lsb64`."""
    words = np.asarray(words)
    if words.dtype != np.uint64 or n > words.shape[-1] * WORD:
        raise ValueError(f"need uint64 words holding at least {n} bits, got {words.dtype} {words.shape}")
    raw = np.ascontiguousarray(words).astype("<u8", copy=False).view(np.uint8)
    return np.unpackbits(raw, axis=-1, count=n, bitorder="little").astype(bool)
