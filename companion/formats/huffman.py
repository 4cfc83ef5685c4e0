"""Huffman coding of integer symbols (quantization indices, sparse index gaps) into a real bitstream.

Huffman (1952): frequent symbols get short codes, so the mean code length approaches the
entropy ``H = −Σ p_s log2 p_s`` (within one bit). Deep Compression (Han, Mao & Dally 2016, §4)
Huffman-codes the k-means indices and the sparse relative indices, saving 20–30 % more.

We use the *canonical* Huffman code: only the code length of each symbol is stored, and codes
are assigned in (length, symbol) order, so the header is one byte per alphabet symbol.

Stream layout (:func:`encode`): ``b"HF"``, ``uint32`` symbol count, ``uint32`` alphabet size
``A``, ``A`` code lengths (``uint8``, 0 = symbol absent), then the codes packed MSB first and
zero-padded to a whole byte. Symbols are integers in ``[0, 65535]``.
"""
from __future__ import annotations

import heapq
import struct
from collections import Counter
from pathlib import Path

import numpy as np

from ..io import write_bytes_atomic

MAGIC = b"HF"
MAX_SYMBOL = 0xFFFF


def code_lengths(freqs: dict[int, int]) -> dict[int, int]:
    """Huffman code length of each symbol from its frequency: merge the two rarest subtrees until
    one is left; a symbol's length is its depth. A single symbol gets length 1. Ties break by
    symbol, so the result is deterministic."""
    if not freqs:
        return {}
    if len(freqs) == 1:
        return {next(iter(freqs)): 1}
    heap = [(f, s, (s,)) for s, f in sorted(freqs.items())]
    heapq.heapify(heap)
    depth = dict.fromkeys(freqs, 0)
    while len(heap) > 1:
        f1, k1, a = heapq.heappop(heap)
        f2, k2, b = heapq.heappop(heap)
        for s in a + b:
            depth[s] += 1
        heapq.heappush(heap, (f1 + f2, min(k1, k2), a + b))
    return depth


def canonical_codes(lengths: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Canonical code ``{symbol: (code, length)}``: sorted by (length, symbol), each code is the
    previous plus one, shifted left when the length grows."""
    codes, code, prev = {}, 0, 0
    for sym, n in sorted(lengths.items(), key=lambda kv: (kv[1], kv[0])):
        code <<= n - prev
        codes[sym], code, prev = (code, n), code + 1, n
    return codes


def _check_symbols(symbols) -> np.ndarray:
    symbols = np.asarray(symbols)
    if symbols.ndim != 1 or (symbols.size and (not np.issubdtype(symbols.dtype, np.integer)
                                               or symbols.min() < 0 or symbols.max() > MAX_SYMBOL)):
        raise ValueError(f"symbols must be a 1-D array of integers in [0, {MAX_SYMBOL}]")
    return symbols.astype(np.int64)


def encode(symbols) -> bytes:
    """Huffman-code a 1-D array of integer symbols into a self-describing byte string."""
    symbols = _check_symbols(symbols)
    lengths = code_lengths(Counter(symbols.tolist()))
    alphabet = max(lengths, default=-1) + 1
    table = np.zeros(alphabet, np.uint8)
    for s, n in lengths.items():
        table[s] = n
    codes = canonical_codes(lengths)
    code_of = np.zeros(alphabet, np.int64)
    for s, (c, _) in codes.items():
        code_of[s] = c
    n = table[symbols].astype(np.int64)
    # bit j (MSB first) of every symbol's code, flattened in stream order
    starts = np.repeat(np.cumsum(n) - n, n)
    pos = np.arange(int(n.sum())) - starts
    shift = np.repeat(n, n) - 1 - pos
    bits = (np.repeat(code_of[symbols], n) >> shift) & 1
    header = MAGIC + struct.pack("<II", len(symbols), alphabet) + table.tobytes()
    return header + np.packbits(bits.astype(np.uint8)).tobytes()


def decode(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode`: the symbols (``int64`` array), bit-exactly."""
    if data[:2] != MAGIC:
        raise ValueError("not a Huffman stream (bad magic bytes)")
    count, alphabet = struct.unpack_from("<II", data, 2)
    start = 2 + 8 + alphabet
    table = np.frombuffer(data, np.uint8, alphabet, 10)
    lengths = {s: int(n) for s, n in enumerate(table) if n}
    if count and not lengths:
        raise ValueError("corrupt Huffman stream: symbols but no code table")
    lookup = {(n, c): s for s, (c, n) in canonical_codes(lengths).items()}
    bits = np.unpackbits(np.frombuffer(data, np.uint8, offset=start)).tolist()
    out, code, n = [], 0, 0
    for b in bits:
        if len(out) == count:
            break
        code, n = (code << 1) | b, n + 1
        sym = lookup.get((n, code))
        if sym is not None:
            out.append(sym)
            code, n = 0, 0
    if len(out) != count:
        raise ValueError(f"corrupt Huffman stream: decoded {len(out)} of {count} symbols")
    return np.array(out, dtype=np.int64)


def mean_code_length(symbols) -> float:
    """Mean Huffman code length in bits per symbol (payload only, header excluded)."""
    symbols = _check_symbols(symbols)
    freqs = Counter(symbols.tolist())
    lengths = code_lengths(freqs)
    return sum(freqs[s] * lengths[s] for s in freqs) / max(len(symbols), 1)


def entropy_bits(symbols) -> float:
    """Empirical entropy ``H = −Σ p log2 p`` of ``symbols``, in bits per symbol (Huffman's lower bound)."""
    _, counts = np.unique(_check_symbols(symbols), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def write(path, symbols) -> Path:
    """Huffman-code ``symbols`` into the file ``path`` (folders created, written atomically); return the path."""
    return write_bytes_atomic(encode(symbols), path)


def read(path) -> np.ndarray:
    """Decode the Huffman file ``path`` back into its symbols."""
    return decode(Path(path).read_bytes())
