"""Binary convolutions on channel-packed words: XNOR-popcount over the kernel taps inside the image.

Inputs (B, H, W, ⌈C/64⌉): the channel words of a pixel are contiguous. Weights (kh, kw, ⌈C/64⌉, O): for one
(tap, word) the O filters' words are contiguous, so the innermost loop runs over output channels — each input
word is loaded once and XOR-ed with the words of *all* filters (a block of O counters per pass), vectorized
with ``vpopcntq`` where the CPU has AVX-512 VPOPCNTDQ.

**Zero padding** is not ±1: the float reference pads with zeros, which add nothing. The kernel first gathers,
for one output pixel, the (input word, weight row) pairs of the taps that fall *inside* the image, outside the
inner loop; taps in the padding are never visited, and the count of visited taps gives the true length:
``z = taps·C − 2·popcount``. The popcounts are then accumulated four pairs per pass over the output channels.

Work is split by output rows (batch × Ho); with several threads the rows run in parallel (``prange``).
Outputs: the integers (int32 or float32; stored NHWC, returned as an NCHW view: a channels-last tensor for
PyTorch), or packed bits of the next binary layer (B, Ho, Wo, ⌈O/64⌉)
through one integer threshold per channel (:mod:`companion.binarization.fold`).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..formats.bits import n_words
from .bitcore import (as_floats, check_operands, check_thresholds, kernel_threads, popcount64, threshold_bits,
                      wide_vectors)
from .packing import _pack_nchw, pack_signs_nchw


@njit(cache=True)
def _conv_row(xp, wflat, kh, kw, b, oy, sh, sw, ph, pw, acc, taps, xs, qs):
    """acc[ox, o] = Σ popcount(x ^ w) over the taps of output pixel (oy, ox) in the image; taps[ox]: their count."""
    wide_vectors()
    h, wd, nw = xp.shape[1], xp.shape[2], xp.shape[3]
    outs = wflat.shape[1]
    for ox in range(acc.shape[0]):
        nq = 0  # gather the valid (input word, weight row) pairs: padding handled here, not in the inner loop
        for i in range(kh):
            iy = oy * sh - ph + i
            if iy < 0 or iy >= h:
                continue
            for j in range(kw):
                ix = ox * sw - pw + j
                if ix < 0 or ix >= wd:
                    continue
                for k in range(nw):
                    xs[nq] = xp[b, iy, ix, k]
                    qs[nq] = (i * kw + j) * nw + k
                    nq += 1
        taps[ox] = nq // nw
        a = acc[ox]
        a[:] = 0
        q = 0
        while q + 4 <= nq:  # four (word, filter row) pairs per pass: one load and store of each counter
            x0, x1, x2, x3 = xs[q], xs[q + 1], xs[q + 2], xs[q + 3]
            w0, w1, w2, w3 = wflat[qs[q]], wflat[qs[q + 1]], wflat[qs[q + 2]], wflat[qs[q + 3]]
            for o in range(outs):
                a[o] += (popcount64(x0 ^ w0[o]) + popcount64(x1 ^ w1[o])) + \
                        (popcount64(x2 ^ w2[o]) + popcount64(x3 ^ w3[o]))
            q += 4
        while q < nq:
            x0, w0 = xs[q], wflat[qs[q]]
            for o in range(outs):
                a[o] += popcount64(x0 ^ w0[o])
            q += 1


@njit(cache=True)
def _store_row(acc, taps, c, b, oy, out, thr, flip, out_bits):
    """One output row: integers ``taps·c − 2·acc`` into NHWC ``out``, or thresholded into packed ``out_bits``.

    Bit ``o`` is ``(z < thr[o]) XOR flip[o]``.
    """
    wo, outs = acc.shape
    if thr.shape[0] == 0:
        for ox in range(wo):
            n = taps[ox] * c
            for o in range(outs):
                out[b, oy, ox, o] = n - 2 * acc[ox, o]
        return
    threshold_bits(acc, taps * c, thr, flip, out_bits[b, oy])


@njit(cache=True)
def _conv_rows(xp, wp, c, r0, r1, sh, sw, ph, pw, ho, wo, out, thr, flip, out_bits):
    """Output rows r0..r1 (row r = image r // ho, output row r % ho), with their own scratch buffers."""
    kh, kw, nw, outs = wp.shape
    wflat = wp.reshape(kh * kw * nw, outs)
    acc = np.empty((wo, outs), np.int64)
    taps = np.empty(wo, np.int64)
    xs = np.empty(kh * kw * nw, np.uint64)
    qs = np.empty(kh * kw * nw, np.int64)
    for r in range(r0, r1):
        b, oy = r // ho, r % ho
        _conv_row(xp, wflat, kh, kw, b, oy, sh, sw, ph, pw, acc, taps, xs, qs)
        _store_row(acc, taps, c, b, oy, out, thr, flip, out_bits)


@njit(cache=True, parallel=True)
def _conv_parallel(xp, wp, c, sh, sw, ph, pw, ho, wo, out, thr, flip, out_bits, chunks):
    """The output rows in ``chunks`` contiguous runs, in parallel: each run allocates its scratch once (an
    allocation per row would make the threads contend on the allocator's shared counters)."""
    rows = xp.shape[0] * ho
    for t in prange(chunks):
        _conv_rows(xp, wp, c, t * rows // chunks, (t + 1) * rows // chunks, sh, sw, ph, pw, ho, wo, out, thr, flip,
                   out_bits)


@njit(cache=True)
def _pack_then_conv(x, wp, sh, sw, ph, pw, ho, wo, out, thr, flip, out_bits):
    """Fused for one thread: pack the signs of an NCHW float tensor, then convolve."""
    xp = np.empty((x.shape[0], x.shape[2], x.shape[3], wp.shape[2]), np.uint64)
    _pack_nchw(x, xp)
    _conv_rows(xp, wp, x.shape[1], 0, x.shape[0] * ho, sh, sw, ph, pw, ho, wo, out, thr, flip, out_bits)


CHUNKS_PER_THREAD = 2  # runs of output rows per thread: few, long ones, yet some slack for uneven rows

_NO_THR, _NO_FLIP = np.empty(0, np.int64), np.empty(0, np.bool_)
_NO_BITS, _NO_OUT = np.empty((0, 0, 0, 0), np.uint64), np.empty((0, 0, 0, 0), np.int32)


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _pair(v, name: str) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(pair[0]), int(pair[1])


def geometry(hw, wp: np.ndarray, stride, padding) -> tuple[int, int, int, int, int, int]:
    """(stride h, stride w, padding h, padding w, Ho, Wo) of a convolution of an ``hw`` input with packed ``wp``."""
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    if min(sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride}, {padding}")
    ho = conv_output_size(hw[0], wp.shape[0], sh, ph)
    wo = conv_output_size(hw[1], wp.shape[1], sw, pw)
    if ho < 1 or wo < 1:
        raise ValueError(f"input {hw[0]}×{hw[1]} is smaller than the kernel {wp.shape[:2]}")
    return sh, sw, ph, pw, ho, wo


def run_conv(xp, wp, c, geo, out, thr=_NO_THR, flip=_NO_FLIP, out_bits=_NO_BITS):
    """Unchecked: packed words → NHWC integers ``out`` or, with thresholds, ``out_bits``; parallel when it pays."""
    sh, sw, ph, pw, ho, wo = geo
    rows = xp.shape[0] * ho
    threads = kernel_threads(rows * wo * wp.shape[0] * wp.shape[1] * wp.shape[2] * wp.shape[3])
    if threads > 1 and rows > 1:
        _conv_parallel(xp, wp, c, sh, sw, ph, pw, ho, wo, out, thr, flip, out_bits, min(rows, CHUNKS_PER_THREAD * threads))
    else:
        _conv_rows(xp, wp, c, 0, rows, sh, sw, ph, pw, ho, wo, out, thr, flip, out_bits)


def sign_conv_bits(a: np.ndarray, wp: np.ndarray, geo, thr, flip) -> np.ndarray:
    """Unchecked: float32 NCHW ``a`` → its signs packed → convolution → thresholds → packed bits (B, Ho, Wo, w)."""
    sh, sw, ph, pw, ho, wo = geo
    out_bits = np.empty((a.shape[0], ho, wo, n_words(wp.shape[3])), np.uint64)
    threads = kernel_threads(a.shape[0] * ho * wo * wp.shape[0] * wp.shape[1] * wp.shape[2] * wp.shape[3])
    if threads == 1:
        _pack_then_conv(a, wp, sh, sw, ph, pw, ho, wo, _NO_OUT, thr, flip, out_bits)
    else:
        run_conv(pack_signs_nchw(a, threads), wp, a.shape[1], geo, _NO_OUT, thr, flip, out_bits)
    return out_bits


def xnor_conv2d(xp: np.ndarray, wp: np.ndarray, channels: int, stride=1, padding=0) -> np.ndarray:
    """Binary convolution on packed operands, zero padding: ``x_b ⊛ W_b`` as int32 (B, O, Ho, Wo), an NCHW view
    of NHWC memory.

    xp (B, H, W, ⌈C/64⌉) channel-packed inputs (:func:`~companion.binarization.packing.pack_signs_nchw`), wp
    (kh, kw, ⌈C/64⌉, O) packed weights (:func:`~companion.binarization.packing.pack_conv_weight`), ``channels``
    = C; ``stride`` and ``padding`` are ints or (height, width) pairs.
    """
    xp, wp = check_operands(xp, wp, channels, 4, (3, 2), "pixel")
    g = geometry(xp.shape[1:3], wp, stride, padding)
    out = np.empty((xp.shape[0], g[4], g[5], wp.shape[3]), np.int32)
    run_conv(xp, wp, int(channels), g, out)
    return out.transpose(0, 3, 1, 2)


def xnor_conv2d_bits(xp: np.ndarray, wp: np.ndarray, channels: int, threshold, flip, stride=1,
                     padding=0) -> np.ndarray:
    """Binary convolution straight to the packed input of the next binary layer: (B, Ho, Wo, ⌈O/64⌉) words.

    Channel ``o`` is −1 (bit 1) where ``(z < threshold[o]) XOR flip[o]``, ``z`` the integer of :func:`xnor_conv2d`.
    """
    xp, wp = check_operands(xp, wp, channels, 4, (3, 2), "pixel")
    thr, flips = check_thresholds(threshold, flip, wp.shape[3])
    g = geometry(xp.shape[1:3], wp, stride, padding)
    out_bits = np.empty((xp.shape[0], g[4], g[5], n_words(wp.shape[3])), np.uint64)
    run_conv(xp, wp, int(channels), g, _NO_OUT, thr, flips, out_bits)
    return out_bits


def binary_conv2d(x, wp: np.ndarray, stride=1, padding=0) -> np.ndarray:
    """``sign(x) ⊛ W_b`` for a real NCHW input: float32 (B, O, Ho, Wo) holding exact integers (an NCHW view of
    NHWC memory).

    On one thread packing is fused into the kernel call; with more, the images are packed, then convolved, in parallel.
    """
    a = as_floats(x)
    if a.ndim != 4 or n_words(a.shape[1]) != wp.shape[2]:
        raise ValueError(f"shape mismatch: NCHW inputs {a.shape} need ⌈C/64⌉ = {wp.shape[2]} words per pixel")
    sh, sw, ph, pw, ho, wo = g = geometry(a.shape[2:], wp, stride, padding)
    out = np.empty((a.shape[0], ho, wo, wp.shape[3]), np.float32)
    threads = kernel_threads(a.shape[0] * ho * wo * wp.shape[0] * wp.shape[1] * wp.shape[2] * wp.shape[3])
    if threads == 1:
        _pack_then_conv(a, wp, sh, sw, ph, pw, ho, wo, out, _NO_THR, _NO_FLIP, _NO_BITS)
    else:
        run_conv(pack_signs_nchw(a, threads), wp, a.shape[1], g, out)
    return out.transpose(0, 3, 1, 2)
