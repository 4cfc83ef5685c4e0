"""Sparse storage and sparse kernels: where pruning turns into bytes and (sometimes) speed.

**Storage: relative indices, as in Deep Compression** (Han, Mao & Dally 2016, §2 and Fig. 2).
A weight tensor is flattened row-major and only its non-zero entries are kept, each with the
number of zeros skipped since the previous kept entry (its *relative index*), stored in
``index_bits`` bits. A gap longer than ``2**index_bits - 1`` zeros is bridged by *filler* entries:
an explicit zero stored at the position where the index would overflow (Fig. 2's "filler zero").
Deep Compression uses 5 bits for fully connected and 8 bits for convolutional layers: that is
``index_bits=None`` here.

File layout (``save_sparse``): ``b"CSPZ"``, a version byte, a little-endian ``uint32`` header
length, a JSON header (one record per tensor: name, shape, dtype, format, index_bits, entries),
then each tensor's payload in order. ``"relative"`` tensors store ``entries`` values in their
dtype followed by ``entries`` relative indices packed ``index_bits`` bits each (MSB first);
``"dense"`` tensors (biases, BN buffers, tensors that would not shrink) store their raw bytes.

**Kernels.** :class:`SparseLinear` computes ``y = x Wᵀ + b`` with ``W`` in PyTorch's CSR
format (``torch.sparse.mm``). Whether it beats the dense matmul depends on sparsity, layer size
and batch: Deep Compression's CPU measurements found sparse faster only at batch 1 (matrix-vector,
memory-bound) and slower at batch 64.
"""
from __future__ import annotations

import copy
import json
import struct
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..formats.bits import pack_ints_msb, unpack_ints_msb
from ..formats.relative import (check_index_bits, decode_relative, default_index_bits, encode_relative,
                                relative_size_bytes)
from ..io import atomic_write

MAGIC, VERSION = b"CSPZ", 1

# ---------------------------------------------------------------- the file
def _state_dict(model_or_state_dict) -> OrderedDict:
    if isinstance(model_or_state_dict, nn.Module):
        return model_or_state_dict.state_dict()
    return OrderedDict(model_or_state_dict)


def _encode_tensor(name: str, t: torch.Tensor, index_bits) -> tuple[dict, bytes]:
    t = t.detach().cpu().contiguous()
    rec = {"name": name, "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
    dense = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
    if t.is_floating_point() and t.dim() >= 2 and t.dtype != torch.bfloat16:
        bits = default_index_bits(t.shape) if index_bits is None else index_bits
        rel, values = encode_relative(t.flatten(), bits)
        if relative_size_bytes(len(rel), bits, t.element_size()) < len(dense):
            rec.update(format="relative", index_bits=int(bits), entries=len(rel))
            return rec, values.numpy().tobytes() + pack_ints_msb(rel, bits)
    rec["format"] = "dense"
    return rec, dense


def save_sparse(model_or_state_dict, path, index_bits: int | None = None) -> Path:
    """Write a ``state_dict`` with every weight that shrinks in the relative-index format.

    Floating tensors of 2 or more dimensions are stored as non-zero values plus ``index_bits``-bit
    relative indices (``None``: 5 bits for fully connected, 8 for conv weights, as in Deep
    Compression) when that is smaller than their dense bytes; everything else is stored dense.
    The file is written atomically; :func:`load_sparse` reads it back bit for bit.
    """
    if index_bits is not None:
        check_index_bits(index_bits)
    records, payloads = [], []
    for name, t in _state_dict(model_or_state_dict).items():
        rec, payload = _encode_tensor(name, t, index_bits)
        rec["bytes"] = len(payload)
        records.append(rec)
        payloads.append(payload)
    header = json.dumps({"tensors": records}, separators=(",", ":")).encode()
    with atomic_write(path) as f:
        f.write(MAGIC + bytes([VERSION]) + struct.pack("<I", len(header)) + header)
        for payload in payloads:
            f.write(payload)
    return Path(path)


def _decode_tensor(rec: dict, payload: bytes) -> torch.Tensor:
    dtype = getattr(torch, rec["dtype"])
    shape, numel = rec["shape"], int(np.prod(rec["shape"], dtype=np.int64))
    if dtype == torch.bfloat16:
        return torch.frombuffer(bytearray(payload), dtype=torch.int16).view(torch.bfloat16).reshape(shape)
    if rec["format"] == "dense":
        return torch.frombuffer(bytearray(payload), dtype=dtype).reshape(shape).clone() if numel else \
            torch.empty(shape, dtype=dtype)
    n, item = rec["entries"], torch.empty((), dtype=dtype).element_size()
    values = torch.frombuffer(bytearray(payload[:n * item]), dtype=dtype) if n else torch.empty(0, dtype=dtype)
    rel = unpack_ints_msb(payload[n * item:], rec["index_bits"], n)
    return decode_relative(rel, values.clone(), numel).reshape(shape)


def load_sparse(path) -> OrderedDict:
    """Read a file written by :func:`save_sparse` back into a ``state_dict`` (``OrderedDict``).

    ``model.load_state_dict(load_sparse(path))`` restores the identical weights.
    """
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not a sparse model file (expected magic {MAGIC!r}, got {data[:4]!r})")
    if data[4] != VERSION:
        raise ValueError(f"{path}: unsupported sparse format version {data[4]} (this code reads {VERSION})")
    (hlen,) = struct.unpack("<I", data[5:9])
    header = json.loads(data[9:9 + hlen])
    out, offset = OrderedDict(), 9 + hlen
    for rec in header["tensors"]:
        out[rec["name"]] = _decode_tensor(rec, data[offset:offset + rec["bytes"]])
        offset += rec["bytes"]
    if offset != len(data):
        raise ValueError(f"{path}: {len(data) - offset} trailing bytes; the file is corrupt")
    return out


# ---------------------------------------------------------------- sparse kernels
class SparseLinear(nn.Module):
    """``y = x Wᵀ + b`` with ``W`` stored in CSR (``torch.sparse.mm``): a pruned ``nn.Linear``.

    Only the non-zeros are multiplied, at the price of an index lookup per entry; on a CPU this
    pays off when the layer is memory-bound (batch 1, large, very sparse), not when batched.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self.register_buffer("weight", linear.weight.detach().to_sparse_csr())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.sparse.mm(self.weight, x.reshape(-1, self.in_features).T).T
        y = y if self.bias is None else y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def to_sparse_linear(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by a :class:`SparseLinear` (for inference)."""
    def swap_(module: nn.Module) -> None:
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, name, SparseLinear(child))
            else:
                swap_(child)
    model = copy.deepcopy(model).eval()
    swap_(model)
    return model

