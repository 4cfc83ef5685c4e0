"""Relative indices with filler zeros (Deep Compression, Han, Mao & Dally 2016, §2 and Fig. 2).

A weight tensor is flattened row-major and only its non-zero entries are kept, each with the number of
zeros skipped since the previous kept entry (its *relative index*), stored in ``index_bits`` bits. A gap
longer than ``2**index_bits - 1`` zeros is bridged by *filler* entries: an explicit zero stored where the
index would overflow. Deep Compression uses 5 bits for fully connected and 8 bits for convolutional layers.
Shared by pruning's sparse file and Deep Compression's coded file.
"""
from __future__ import annotations

import numpy as np
import torch

from .bits import check_width as check_index_bits

FC_INDEX_BITS, CONV_INDEX_BITS = 5, 8  # Deep Compression's index widths


def default_index_bits(shape) -> int:
    """Deep Compression's index width: 5 bits for a 2-D (fully connected) weight, 8 for conv."""
    return FC_INDEX_BITS if len(shape) == 2 else CONV_INDEX_BITS


def encode_relative(flat: torch.Tensor, index_bits: int) -> tuple[np.ndarray, torch.Tensor]:
    """Relative-index code of a 1-D tensor: ``(rel, values)`` with filler zeros where gaps overflow.

    Entry ``k`` sits ``rel[k] + 1`` positions after entry ``k − 1`` (the first after position −1).
    A gap of ``g`` zeros becomes ``g // 2**b`` fillers (``rel = 2**b − 1``, value 0) and one entry
    with ``rel = g mod 2**b``. ``rel`` is a ``uint16`` array with values below ``2**index_bits``.
    """
    check_index_bits(index_bits)
    flat = flat.detach().flatten().cpu()
    pos = torch.nonzero(flat).flatten().numpy().astype(np.int64)
    gaps = np.diff(np.concatenate([[-1], pos])) - 1
    base = 1 << index_bits
    fillers = gaps // base
    rel = np.full(len(pos) + int(fillers.sum()), base - 1, dtype=np.uint16)
    values = torch.zeros(len(rel), dtype=flat.dtype)
    real = np.cumsum(fillers + 1) - 1
    rel[real] = gaps % base
    values[torch.from_numpy(real)] = flat[torch.from_numpy(pos)]
    return rel, values


def decode_relative(rel: np.ndarray, values: torch.Tensor, numel: int) -> torch.Tensor:
    """Inverse of :func:`encode_relative`: the dense 1-D tensor of length ``numel``."""
    if len(rel) != len(values):
        raise ValueError(f"{len(rel)} relative indices but {len(values)} values")
    pos = np.cumsum(rel.astype(np.int64) + 1) - 1
    if len(pos) and pos[-1] >= numel:
        raise ValueError(f"relative indices reach position {pos[-1]} beyond numel={numel}")
    out = torch.zeros(numel, dtype=values.dtype)
    out[torch.from_numpy(pos)] = values
    return out


def relative_size_bytes(entries: int, index_bits: int, value_bytes: int = 4) -> int:
    """Payload bytes of a relative-index tensor: values plus packed indices."""
    return entries * value_bytes + (entries * index_bits + 7) // 8
