"""Deep Compression (Han, Mao & Dally 2016): prune → share weights by k-means → Huffman-code, with
the bytes after each stage measured on a real file.

1. **Prune** (:mod:`companion.pruning`): gradual global magnitude pruning with retraining; the sparse
   weights are stored as values plus 5-bit relative indices (:func:`companion.sparse.save_sparse`).
2. **Share** (:mod:`companion.weight_sharing`): the surviving weights of each layer are clustered
   into ``2**bits − 1`` centroids (linear init) which are then fine-tuned; each entry now costs
   a ``bits``-bit code (code 0 = the zero of a filler entry) instead of a float32.
3. **Huffman** (:mod:`companion.huffman`): the codes and the relative indices are Huffman-coded.

File layout (:func:`save_compressed`): ``b"DCMP"``, version, coding (0 packed, 1 Huffman), then
per tensor: name, shape, dtype (index in :data:`DTYPES`) and kind; a dense tensor stores its raw bytes in
its own dtype (so integer buffers come back as integers); a shared tensor stores
``index_bits``, ``code_bits``, the codebook (float32) and two streams, the relative indices and
the codes, either bit-packed or Huffman-coded (:func:`companion.huffman.encode`).
"""
from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..formats import huffman
from ..formats.bits import pack_ints_msb, unpack_ints_msb
from ..formats.relative import decode_relative, default_index_bits, encode_relative
from ..io import save_state_dict, write_bytes_atomic
from ..measure import size_bytes
from ..pruning import SCOPES, PruneConfig, Pruner, prune_and_finetune, save_sparse
from ..train import TrainConfig, fit
from .weight_sharing import share_model_weights_

MAGIC, VERSION = b"DCMP", 2
CODINGS = ("packed", "huffman")
MAX_CODEBOOK = 256  # distinct non-zeros a shared tensor may have: its codes fit one byte with the zero
MAX_BITS = 8  # 2**8 − 1 centroids plus the zero code: the most a shared tensor of this file holds
DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
          torch.int8, torch.uint8, torch.bool)  # a record's dtype is stored as its index here


@dataclass(frozen=True)
class DeepCompressionConfig:
    """The three stages' settings. ``scope``: ``"global"`` ranks all weights together (so the small
    output layer keeps more, as in the paper's 92/91/74 % per layer); ``bits``: code width of a
    shared weight (``2**bits − 1`` centroids plus the zero)."""

    sparsity: float = 0.92
    scope: str = "global"
    prune_epochs: int = 8
    bits: int = 5
    share_epochs: int = 2
    lr: float = 1e-3
    share_lr: float = 1e-4
    seed: int = 0
    max_train: int | None = None

    def __post_init__(self):
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        if not isinstance(self.bits, int) or not 1 <= self.bits <= MAX_BITS:
            raise ValueError(f"bits must be in [1, {MAX_BITS}]: 2**bits − 1 centroids plus the zero code must fit "
                             f"the file's codebook of at most {MAX_CODEBOOK} entries, got {self.bits}")
        if self.prune_epochs < 1 or self.share_epochs < 0:
            raise ValueError(f"need prune_epochs >= 1 and share_epochs >= 0, got {self.prune_epochs}, "
                             f"{self.share_epochs}")


# ---------------------------------------------------------------- the stages
def prune_retrain_(model: nn.Module, train_data, cfg: DeepCompressionConfig, device="cpu") -> Pruner:
    """Stage 1: magnitude pruning to ``cfg.sparsity`` (``cfg.scope``) on Zhu & Gupta's gradual
    schedule over the first three quarters of ``cfg.prune_epochs`` epochs of retraining
    (:func:`companion.pruning.prune_and_finetune`)."""
    tc = TrainConfig(epochs=cfg.prune_epochs, lr=cfg.lr, seed=cfg.seed, max_train=cfg.max_train)
    return prune_and_finetune(model, PruneConfig(sparsity=cfg.sparsity, scope=cfg.scope), train_data, tc,
                              schedule="gradual", ramp=0.75, device=device)


def share_retrain_(model: nn.Module, train_data, cfg: DeepCompressionConfig, device="cpu") -> dict:
    """Stage 2: k-means sharing of every Linear/Conv2d weight into ``2**bits − 1`` centroids, the
    centroids fine-tuned for ``cfg.share_epochs`` epochs; returns the codebooks by layer."""
    shared = share_model_weights_(model, (1 << cfg.bits) - 1)
    if cfg.share_epochs:
        tc = TrainConfig(epochs=cfg.share_epochs, lr=cfg.share_lr, seed=cfg.seed, max_train=cfg.max_train)
        fit(model, train_data, tc, device=device, desc="share")
    for name, module in model.named_modules():
        if name in shared:
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return {name: s.centroids.detach().cpu() for name, s in shared.items()}


# ---------------------------------------------------------------- codes of a shared tensor
def encode_shared(weight: torch.Tensor, index_bits: int):
    """``(rel, codes, codebook)`` of a weight whose non-zeros take few distinct values: relative
    indices (with fillers), code 0 for a zero and ``1 + i`` for ``codebook[i]``, the sorted codebook."""
    rel, values = encode_relative(weight.detach().cpu().float().flatten(), index_bits)
    codebook = torch.unique(values[values != 0])
    codes = torch.where(values != 0, torch.searchsorted(codebook, values) + 1, 0)
    return rel.astype(np.int64), codes.numpy().astype(np.int64), codebook


def decode_shared(rel: np.ndarray, codes: np.ndarray, codebook: torch.Tensor, numel: int) -> torch.Tensor:
    """Inverse of :func:`encode_shared`: the flat weight of ``numel`` entries."""
    values = torch.cat([torch.zeros(1), codebook.float()])[torch.from_numpy(np.asarray(codes, np.int64))]
    return decode_relative(np.asarray(rel, np.uint16), values, numel)


def _stream(ints: np.ndarray, bits: int, coding: str) -> bytes:
    data = pack_ints_msb(ints, bits) if coding == "packed" else huffman.encode(ints)
    return struct.pack("<I", len(data)) + data


def _raw(t: torch.Tensor) -> bytes:
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def save_compressed(model_or_state_dict, path, coding: str = "huffman", index_bits: int | None = None,
                    max_codebook: int = MAX_CODEBOOK) -> Path:
    """Write a pruned, weight-shared ``state_dict``: shared tensors (float, ≥ 2-D, at most
    ``max_codebook`` distinct non-zeros) as codebook + relative indices + codes (bit-packed or
    Huffman-coded); every other tensor as raw float32. See the module docstring for the layout."""
    if coding not in CODINGS:
        raise ValueError(f"coding must be one of {CODINGS}, got {coding!r}")
    if not 1 <= max_codebook <= 65535:
        raise ValueError(f"max_codebook must be in [1, 65535] (a 16-bit count), got {max_codebook}")
    sd = model_or_state_dict.state_dict() if isinstance(model_or_state_dict, nn.Module) else model_or_state_dict
    out = [MAGIC, bytes([VERSION, CODINGS.index(coding)])]
    for name, t in sd.items():
        t = t.detach().cpu()
        if t.dtype not in DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {t.dtype}, not one of {DTYPES}")
        head = struct.pack("<B", len(name.encode())) + name.encode() + struct.pack("<B", t.dim())
        head += struct.pack(f"<{t.dim()}I", *t.shape) + struct.pack("<B", DTYPES.index(t.dtype))
        k = len(torch.unique(t[t != 0])) if t.is_floating_point() and t.dim() >= 2 else max_codebook + 1
        if k > max_codebook:
            out += [head, b"\x00", _raw(t)]
            continue
        ib = default_index_bits(t.shape) if index_bits is None else index_bits
        rel, codes, codebook = encode_shared(t, ib)
        cb = max(1, int(np.ceil(np.log2(len(codebook) + 1))))
        out += [head, struct.pack("<BBBHI", 1, ib, cb, len(codebook), len(rel)), codebook.numpy().tobytes(),
                _stream(rel, ib, coding), _stream(codes, cb, coding)]
    path = Path(path)
    write_bytes_atomic(b"".join(out), path)
    return path


def read_compressed(path) -> OrderedDict:
    """The records of a :func:`save_compressed` file by name: ``{"shape", "kind", ...}`` with the
    decoded ``rel`` and ``codes`` streams and the ``codebook`` for shared tensors."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC or data[4] != VERSION:
        raise ValueError(f"{path} is not a Deep Compression file of version {VERSION}")
    coding, pos, records = CODINGS[data[5]], 6, OrderedDict()

    def take(n):
        nonlocal pos
        pos += n
        return data[pos - n:pos]

    def stream(bits, count):
        (n,) = struct.unpack("<I", take(4))
        raw = take(n)
        return unpack_ints_msb(raw, bits, count).astype(np.int64) if coding == "packed" else huffman.decode(raw)

    while pos < len(data):
        name = take(take(1)[0]).decode()
        ndim = take(1)[0]
        rec = {"shape": struct.unpack(f"<{ndim}I", take(4 * ndim)), "dtype": DTYPES[take(1)[0]]}
        rec["kind"] = "shared" if take(1)[0] else "dense"
        numel = int(np.prod(rec["shape"], dtype=np.int64))
        if rec["kind"] == "dense":
            raw = bytearray(take(numel * rec["dtype"].itemsize))
            rec["tensor"] = (torch.frombuffer(raw, dtype=torch.uint8).view(rec["dtype"]) if numel
                             else torch.zeros(0, dtype=rec["dtype"])).reshape(rec["shape"])
        else:
            ib, cb, k, entries = struct.unpack("<BBHI", take(8))
            raw = bytearray(take(4 * k))  # an all-zero tensor has an empty codebook
            rec["codebook"] = torch.frombuffer(raw, dtype=torch.float32) if k else torch.zeros(0)
            rec["rel"], rec["codes"] = stream(ib, entries), stream(cb, entries)
            rec["tensor"] = decode_shared(rec["rel"], rec["codes"], rec["codebook"], numel).reshape(
                rec["shape"]).to(rec["dtype"])
        records[name] = rec
    return records


def load_compressed(path) -> OrderedDict:
    """A :func:`save_compressed` file back as a ``state_dict``: identical values in the original dtypes."""
    return OrderedDict((name, rec["tensor"]) for name, rec in read_compressed(path).items())


def stage_files(dense: nn.Module, pruned: nn.Module, shared: nn.Module, workdir, name: str = "model") -> list[dict]:
    """Write the model after each stage to ``workdir`` and return one row per file: ``stage``,
    ``path``, ``bytes`` and ``ratio`` (dense bytes / bytes). Files: the dense ``state_dict``; the
    pruned one in :func:`companion.sparse.save_sparse`'s relative-index format; the shared one
    bit-packed; the shared one Huffman-coded."""
    workdir = Path(workdir)
    paths = {
        "dense fp32 (torch.save)": save_state_dict(dense, workdir / f"{name}.dense.pt"),
        "pruned (sparse, 5-bit relative indices)": save_sparse(pruned, workdir / f"{name}.sparse.bin"),
        "pruned + k-means (packed codes)": save_compressed(shared, workdir / f"{name}.shared.bin", "packed"),
        "pruned + k-means + Huffman": save_compressed(shared, workdir / f"{name}.huffman.bin", "huffman"),
    }
    base = size_bytes(paths["dense fp32 (torch.save)"]).bytes
    return [{"stage": stage, "path": str(p), "bytes": size_bytes(p).bytes, "ratio": base / size_bytes(p).bytes}
            for stage, p in paths.items()]
