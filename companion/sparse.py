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
import os
import struct
import tempfile
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

MAGIC, VERSION = b"CSPZ", 1
FC_INDEX_BITS, CONV_INDEX_BITS = 5, 8  # Deep Compression's index widths


# ---------------------------------------------------------------- pure functions
def default_index_bits(shape) -> int:
    """Deep Compression's index width: 5 bits for a 2-D (fully connected) weight, 8 for conv."""
    return FC_INDEX_BITS if len(shape) == 2 else CONV_INDEX_BITS


def _check_bits(index_bits: int) -> None:
    if not isinstance(index_bits, (int, np.integer)) or not 1 <= index_bits <= 16:
        raise ValueError(f"index_bits must be an integer in [1, 16], got {index_bits!r}")


def encode_relative(flat: torch.Tensor, index_bits: int) -> tuple[np.ndarray, torch.Tensor]:
    """Relative-index code of a 1-D tensor: ``(rel, values)`` with filler zeros where gaps overflow.

    Entry ``k`` sits ``rel[k] + 1`` positions after entry ``k − 1`` (the first after position −1).
    A gap of ``g`` zeros becomes ``g // 2**b`` fillers (``rel = 2**b − 1``, value 0) and one entry
    with ``rel = g mod 2**b``. ``rel`` is a ``uint16`` array with values below ``2**index_bits``.
    """
    _check_bits(index_bits)
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


def pack_bits(ints: np.ndarray, bits: int) -> bytes:
    """Pack non-negative integers below ``2**bits`` into ``ceil(n·bits/8)`` bytes, MSB first."""
    _check_bits(bits)
    ints = np.asarray(ints, dtype=np.int64)
    if len(ints) and (ints.min() < 0 or ints.max() >= 1 << bits):
        raise ValueError(f"values must be in [0, {1 << bits}) to pack in {bits} bits")
    bitmat = (ints[:, None] >> np.arange(bits - 1, -1, -1)) & 1
    return np.packbits(bitmat.astype(np.uint8).ravel()).tobytes()


def unpack_bits(data: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``count`` integers of ``bits`` bits each (``uint16``)."""
    _check_bits(bits)
    flat = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[:count * bits]
    if len(flat) < count * bits:
        raise ValueError(f"{len(data)} bytes hold fewer than {count} values of {bits} bits")
    weights = 1 << np.arange(bits - 1, -1, -1)
    return (flat.reshape(count, bits).astype(np.int64) @ weights).astype(np.uint16)


def relative_size_bytes(entries: int, index_bits: int, value_bytes: int = 4) -> int:
    """Payload bytes of a relative-index tensor: values plus packed indices."""
    return entries * value_bytes + (entries * index_bits + 7) // 8


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
            return rec, values.numpy().tobytes() + pack_bits(rel, bits)
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
        _check_bits(index_bits)
    records, payloads = [], []
    for name, t in _state_dict(model_or_state_dict).items():
        rec, payload = _encode_tensor(name, t, index_bits)
        rec["bytes"] = len(payload)
        records.append(rec)
        payloads.append(payload)
    header = json.dumps({"tensors": records}, separators=(",", ":")).encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as f:
        f.write(MAGIC + bytes([VERSION]) + struct.pack("<I", len(header)) + header)
        for payload in payloads:
            f.write(payload)
    os.replace(f.name, path)
    return path


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
    rel = unpack_bits(payload[n * item:], rec["index_bits"], n)
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

