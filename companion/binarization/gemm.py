"""Binary linear layers on packed words: ``z = n − 2·popcount(x XOR w)`` for every (sample, output).

For ±1 vectors of length ``n`` packed into words, equal positions add +1 and different ones −1, and the
different positions are the set bits of ``x XOR w``, so ``x · w = n − 2·popcount(x XOR w)``: one XOR and one
popcount do 64 multiply-accumulates (Rastegari et al. 2016; Hubara et al. 2016).

Weights are stored transposed, (⌈n/64⌉, O), so the innermost loop runs over outputs: contiguous loads, one
counter per output, vectorized (``vpopcntq`` on AVX-512 VPOPCNTDQ), no horizontal sums. Four words of the
input are folded in per pass, so each counter is loaded and stored once per four words. Work is split in
blocks of up to :data:`BATCH_BLOCK` samples × :data:`OUT_BLOCK` outputs (long inner loops; the samples of a
block reuse its weights from the cache); with several threads there is at least one block per thread, and the
blocks run in parallel (``prange``).

Three ways out: the integers (int32), the same as float32, or **packed bits of the next layer**: batch norm
and ``sign`` folded into one integer threshold per output (:mod:`companion.binarization.fold`),
``bit = (z < threshold) XOR flip``, so a binary block goes from packed bits to packed bits.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange

from ..formats.bits import WORD, n_words
from .bitcore import (as_floats, check_operands, check_thresholds, kernel_threads, popcount64, threshold_bits,
                      wide_vectors)
from .packing import _pack_rows

OUT_BLOCK = 1024   # at most this many outputs per work item (a multiple of 64: output words never straddle items)
BATCH_BLOCK = 32   # at most this many samples per work item


@njit(cache=True, inline="always")
def _accumulate(xp, wt, b, o0, o1, acc):
    """acc[o − o0] = Σ_k popcount(xp[b, k] ^ wt[k, o]) for o in [o0, o1)."""
    wide_vectors()
    nw, m = wt.shape[0], o1 - o0
    acc[:m] = 0
    k = 0
    while k + 4 <= nw:
        x0, x1, x2, x3 = xp[b, k], xp[b, k + 1], xp[b, k + 2], xp[b, k + 3]
        w0, w1, w2, w3 = wt[k, o0:o1], wt[k + 1, o0:o1], wt[k + 2, o0:o1], wt[k + 3, o0:o1]
        for o in range(m):
            acc[o] += (popcount64(x0 ^ w0[o]) + popcount64(x1 ^ w1[o])) + \
                      (popcount64(x2 ^ w2[o]) + popcount64(x3 ^ w3[o]))
        k += 4
    while k < nw:
        x0, w0 = xp[b, k], wt[k, o0:o1]
        for o in range(m):
            acc[o] += popcount64(x0 ^ w0[o])
        k += 1


@njit(cache=True)
def _gemm_item(xp, wt, n, item, bb, ob, out, thr, flip, out_bits):
    """Work item ``item``: ``bb`` samples × ``ob`` outputs, into dense ``out`` or, with thresholds, bits."""
    outs = wt.shape[1]
    blocks = (outs + ob - 1) // ob
    b0, o0 = (item // blocks) * bb, (item % blocks) * ob
    o1 = min(o0 + ob, outs)
    b1 = min(b0 + bb, xp.shape[0])
    acc = np.empty((bb, ob), np.int64)
    for b in range(b0, b1):
        _accumulate(xp, wt, b, o0, o1, acc[b - b0])
    if thr.shape[0] == 0:
        for b in range(b0, b1):
            for o in range(o1 - o0):
                out[b, o0 + o] = n - 2 * acc[b - b0, o]
    else:
        words = out_bits[b0:b1, o0 // WORD:(o1 + WORD - 1) // WORD]
        threshold_bits(acc[:b1 - b0, :o1 - o0], np.full(b1 - b0, n, np.int64), thr[o0:o1], flip[o0:o1], words)


@functools.lru_cache(maxsize=256)
def _blocks(batch: int, outs: int, threads: int) -> tuple[int, int, int]:
    """(samples, outputs) per work item and the number of items: as large as :data:`BATCH_BLOCK` ×
    :data:`OUT_BLOCK` allow (long inner loops), but at least one item per thread."""
    bb, ob = min(batch, BATCH_BLOCK), min(-(-outs // WORD) * WORD, OUT_BLOCK)
    if threads > 1:
        bb = min(bb, -(-batch // threads))
        if batch < threads:  # too few samples to share: split the outputs
            ob = min(ob, -(-outs // (threads * WORD)) * WORD)
    return bb, ob, -(-batch // bb) * -(-outs // ob)


@njit(cache=True)
def _gemm(xp, wt, n, bb, ob, items, out, thr, flip, out_bits):
    for item in range(items):
        _gemm_item(xp, wt, n, item, bb, ob, out, thr, flip, out_bits)


@njit(cache=True, parallel=True)
def _gemm_parallel(xp, wt, n, bb, ob, items, out, thr, flip, out_bits):
    for item in prange(items):
        _gemm_item(xp, wt, n, item, bb, ob, out, thr, flip, out_bits)


@njit(cache=True)
def _pack_then_gemm(x, wt, bb, ob, items, out, thr, flip, out_bits):
    """Fused for one thread: pack the signs of float rows x (B, n), then :func:`_gemm`."""
    xp = np.empty((x.shape[0], wt.shape[0]), np.uint64)
    _pack_rows(x, xp)
    _gemm(xp, wt, x.shape[1], bb, ob, items, out, thr, flip, out_bits)


_NO_THR, _NO_FLIP, _NO_BITS = np.empty(0, np.int64), np.empty(0, np.bool_), np.empty((0, 0), np.uint64)


def run_gemm(xp, wt, n, out, thr=_NO_THR, flip=_NO_FLIP, out_bits=_NO_BITS):
    """Unchecked: packed words → integers ``out`` or, with thresholds, ``out_bits``; parallel when it pays."""
    threads = kernel_threads(xp.shape[0] * wt.shape[0] * wt.shape[1])
    bb, ob, items = _blocks(xp.shape[0], wt.shape[1], threads)
    if items > 1 and threads > 1:
        _gemm_parallel(xp, wt, n, bb, ob, items, out, thr, flip, out_bits)
    else:
        _gemm(xp, wt, n, bb, ob, items, out, thr, flip, out_bits)


def xnor_linear(xp: np.ndarray, wp: np.ndarray, n: int) -> np.ndarray:
    """Binary linear layer on packed operands: ``x_b W_bᵀ`` as int32 (B, O).

    xp (B, ⌈n/64⌉) packed inputs, wp (⌈n/64⌉, O) packed weights from
    :func:`~companion.binarization.packing.pack_linear_weight`, n the true input length.
    """
    xp, wp = check_operands(xp, wp, n, 2, (1, 0), "input row")
    out = np.empty((xp.shape[0], wp.shape[1]), np.int32)
    run_gemm(xp, wp, int(n), out)
    return out


def xnor_linear_bits(xp: np.ndarray, wp: np.ndarray, n: int, threshold: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Binary linear layer straight to the packed input of the next binary layer: (B, ⌈O/64⌉) words.

    Output ``o`` of sample ``b`` is −1 (bit 1) where ``(z < threshold[o]) XOR flip[o]`` with ``z`` the
    integer of :func:`xnor_linear`; thresholds come from :func:`companion.binarization.fold.sign_thresholds`.
    """
    xp, wp = check_operands(xp, wp, n, 2, (1, 0), "input row")
    thr, flips = check_thresholds(threshold, flip, wp.shape[1])
    out_bits = np.empty((xp.shape[0], n_words(wp.shape[1])), np.uint64)
    run_gemm(xp, wp, int(n), np.empty((0, 0), np.int32), thr, flips, out_bits)
    return out_bits


def binary_linear(x, wp: np.ndarray) -> np.ndarray:
    """``sign(x) W_bᵀ`` for real inputs x (B, n), float32 (B, O) holding exact integers.

    wp (⌈n/64⌉, O) from :func:`~companion.binarization.packing.pack_linear_weight`. Packing the signs is fused
    into the kernel call on one thread; with more threads the signs are packed first, then multiplied in parallel.
    """
    a = as_floats(x)
    if a.ndim != 2 or n_words(a.shape[1]) != wp.shape[0]:
        raise ValueError(f"shape mismatch: inputs {a.shape} need ⌈n/64⌉ = {wp.shape[0]} words per row")
    batch, outs = a.shape[0], wp.shape[1]
    out = np.empty((batch, outs), np.float32)
    threads = kernel_threads(batch * wp.shape[0] * outs)
    if threads == 1:
        _pack_then_gemm(a, wp, *_blocks(batch, outs, 1), out, _NO_THR, _NO_FLIP, _NO_BITS)
    else:
        xp = np.empty((batch, wp.shape[0]), np.uint64)
        _pack_rows(a, xp)
        run_gemm(xp, wp, a.shape[1], out)
    return out
