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
format (``torch.sparse.mm``). Whether it beats the dense matmul depends on sparsity, layer size,
batch, thread count and the sparse kernel itself: Deep Compression's CPU measurements (MKL) found
sparse faster only at batch 1 (matrix-vector, memory-bound) and slower at batch 64, but PyTorch's
CSR kernel on another CPU need not follow that pattern; measure it (``02_pruning`` does).
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


def _to_bytes(t: torch.Tensor) -> bytes:
    """Raw little-endian bytes of a CPU tensor (bfloat16, which NumPy lacks, through its int16 view)."""
    t = t.contiguous()
    return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()


def _from_bytes(payload: bytes, dtype: torch.dtype, count: int) -> torch.Tensor:
    """``count`` values of ``dtype`` from raw bytes (the inverse of :func:`_to_bytes`; empty for ``count=0``)."""
    if count == 0:
        return torch.empty(0, dtype=dtype)
    raw = torch.int16 if dtype == torch.bfloat16 else dtype
    return torch.frombuffer(bytearray(payload), dtype=raw, count=count).clone().view(dtype)


def _encode_tensor(name: str, t: torch.Tensor, index_bits) -> tuple[dict, bytes]:
    t = t.detach().cpu().contiguous()
    rec = {"name": name, "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
    dense = _to_bytes(t)
    if t.is_floating_point() and t.dim() >= 2:
        bits = default_index_bits(t.shape) if index_bits is None else index_bits
        rel, values = encode_relative(t.flatten(), bits)
        if relative_size_bytes(len(rel), bits, t.element_size()) < len(dense):
            rec.update(format="relative", index_bits=int(bits), entries=len(rel))
            return rec, _to_bytes(values) + pack_ints_msb(rel, bits)
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
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown dtype {rec['dtype']!r}")
    shape = [int(d) for d in rec["shape"]]
    numel, item = int(np.prod(shape, dtype=np.int64)), dtype.itemsize
    if rec["format"] == "dense":
        if len(payload) != numel * item:
            raise ValueError(f"{len(payload)} bytes for {numel} values of {item} bytes")
        return _from_bytes(payload, dtype, numel).reshape(shape)
    if rec["format"] != "relative":
        raise ValueError(f"unknown format {rec['format']!r}")
    n, bits = int(rec["entries"]), int(rec["index_bits"])
    if len(payload) != relative_size_bytes(n, bits, item):
        raise ValueError(f"{len(payload)} bytes for {n} entries of {item} + {bits}/8 bytes")
    values = _from_bytes(payload[:n * item], dtype, n)
    rel = unpack_ints_msb(payload[n * item:], bits, n)
    return decode_relative(rel, values, numel).reshape(shape)


def _read_header(data: bytes) -> tuple[list, int]:
    if len(data) < 9:
        raise ValueError(f"{len(data)} bytes, shorter than the 9-byte preamble")
    (hlen,) = struct.unpack("<I", data[5:9])
    if 9 + hlen > len(data):
        raise ValueError(f"header length {hlen} runs past the end of the file ({len(data)} bytes)")
    return json.loads(data[9:9 + hlen].decode("utf-8"))["tensors"], 9 + hlen


def load_sparse(path) -> OrderedDict:
    """Read a file written by :func:`save_sparse` back into a ``state_dict`` (``OrderedDict``).

    ``model.load_state_dict(load_sparse(path))`` restores the identical weights. A file that is not one
    raises ``ValueError("... not a sparse model file")``; a damaged one (truncated, bad header, sizes
    that do not add up, indices past the end of a tensor) raises ``ValueError("...: corrupt ...")``.
    """
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not a sparse model file (expected magic {MAGIC!r}, got {data[:4]!r})")
    if len(data) > 4 and data[4] != VERSION:
        raise ValueError(f"{path}: unsupported sparse format version {data[4]} (this code reads {VERSION})")
    out, name = OrderedDict(), None
    try:
        records, offset = _read_header(data)
        for rec in records:
            name, size = rec["name"], int(rec["bytes"])
            if size < 0 or offset + size > len(data):
                raise ValueError(f"payload of {size} bytes at offset {offset} runs past the end ({len(data)} bytes)")
            out[name] = _decode_tensor(rec, data[offset:offset + size])
            offset += size
        name = None
        if offset != len(data):
            raise ValueError(f"{len(data) - offset} trailing bytes")
    except (ValueError, KeyError, TypeError, RuntimeError, UnicodeDecodeError, AttributeError) as e:
        where = f" in tensor {name!r}" if name is not None else ""
        detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise ValueError(f"{path}: corrupt sparse model file{where}: {detail}") from e
    return out


# ---------------------------------------------------------------- sparse kernels
class SparseLinear(nn.Module):
    """``y = x Wᵀ + b`` with ``W`` stored in CSR (``torch.sparse.mm``): a pruned ``nn.Linear``.

    Only the non-zeros are multiplied, at the price of an index lookup per entry (and 12 bytes per
    non-zero in memory: a float32 value and an int64 column index); whether that beats the dense
    kernel is a measurement, not a rule (see the module docstring).
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

