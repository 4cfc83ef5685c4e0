"""Real binary inference: ±1 tensors packed into 64-bit words, dot products by XNOR and popcount.

Encoding: bit 1 ↔ −1, bit 0 ↔ +1; element ``i`` of a vector goes to bit ``i % 64`` of word ``i // 64``.
Padding bits (past the vector's length ``n``) are 0 in *both* operands, so they never differ.
For ±1 vectors ``a``, ``b`` of length ``n``::

    a · b = (#equal) − (#different) = n − 2 · popcount(a XOR b)      (= 2·popcount(XNOR) − n)

so one 64-bit XOR + popcount does 64 multiply-accumulates (Rastegari et al. 2016; Hubara et al. 2016).
Convolutions pack along the input channels (one or more words per pixel) and loop over the kernel
taps; a tap that falls in the zero padding is *skipped* and its bits are not counted, which is
exactly what zero padding does in the float ±1 convolution (a zero contributes nothing). The
kernels are compiled by numba (``llvm.ctpop``, which becomes ``vpopcntq`` on AVX-512 CPUs), run on
the CPU on one thread, and return the same integers as the float computation. (Multi-threaded
builds were tried: on a shared 2-core machine their start-up and contention cost more than they
saved at these sizes, so PyTorch's two threads are compared against one numba thread.)
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit, types
from numba.core.extending import intrinsic

from ..formats.bits import WORD, n_words, pack_bits_lsb64, unpack_bits_lsb64  # noqa: F401  (re-exported)


# ---------------------------------------------------------------- packing (NumPy, vectorised)
def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def pack_pm1(t) -> np.ndarray:
    """A tensor of exactly ±1 (..., n) → packed words (..., ⌈n/64⌉). Any other value raises."""
    a = _numpy(t)
    bad = (a != 1) & (a != -1)
    if bad.any():
        raise ValueError(f"pack_pm1 expects only -1 and +1 values; found {a[bad].flat[0].item()!r} "
                         f"({int(bad.sum())} of {a.size} entries); binarize with sign() first")
    return pack_bits_lsb64(a < 0)


def unpack_pm1(words: np.ndarray, n: int) -> np.ndarray:
    """Packed words → float32 ±1 (..., n)."""
    return 1.0 - 2.0 * unpack_bits_lsb64(words, n).astype(np.float32)


# ---------------------------------------------------------------- compiled kernels (numba)
# compiled on first use (a few seconds in all) and cached on disk in __pycache__
@intrinsic
def popcount64(typingctx, x):
    """Number of set bits of a uint64, as LLVM's ``ctpop`` (one ``popcnt``/``vpopcntq``)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.int64(types.uint64), codegen


@njit(cache=True)
def _pack_rows(x, out):
    """x float32 (R, n) → out uint64 (R, ⌈n/64⌉): bit 1 where x < 0 (sign(0) = +1)."""
    rows, n = x.shape
    full = n // WORD
    for r in range(rows):
        for k in range(full):  # whole words: a fixed 64-step loop the compiler vectorizes
            word = np.uint64(0)
            for i in range(WORD):
                word |= np.uint64(x[r, k * WORD + i] < 0) << np.uint64(i)
            out[r, k] = word
        if full < out.shape[1]:  # the last, partial word; its padding bits stay 0
            word = np.uint64(0)
            for i in range(n - full * WORD):
                word |= np.uint64(x[r, full * WORD + i] < 0) << np.uint64(i)
            out[r, full] = word


@njit(cache=True)
def _pack_nchw(x, out):
    """x float32 (B, C, H, W) → out uint64 (B, H, W, ⌈C/64⌉); channel c → bit c % 64 of word c // 64."""
    batch, c, h, w = x.shape
    out[:] = 0
    for b in range(batch):
        for ch in range(c):
            k, bit = ch // WORD, np.uint64(ch % WORD)
            for y in range(h):
                for i in range(w):
                    out[b, y, i, k] |= np.uint64(x[b, ch, y, i] < 0) << bit


@njit(cache=True)
def _xnor_linear(xp, wt, n, out):
    """out[b, o] = n − 2·Σ_k popcount(xp[b, k] ^ wt[k, o]);  xp (B, w), wt (w, O), out (B, O).

    Weights are stored transposed, so the innermost loop runs over outputs: contiguous loads,
    one counter per output, vectorized (8 words per ``vpopcntq``), no horizontal sums.
    """
    nw, outs = wt.shape
    acc = np.empty(outs, np.int64)
    for b in range(xp.shape[0]):
        acc[:] = 0
        for k in range(nw):
            xv = xp[b, k]
            for o in range(outs):
                acc[o] += popcount64(xv ^ wt[k, o])
        for o in range(outs):
            out[b, o] = n - 2 * acc[o]


@njit(cache=True)
def _xnor_conv(xp, wp, c, stride, pad, out):
    """Binary convolution on packed channels.  xp (B, H, W, w), wp (kh, kw, w, O), out (B, O, Ho, Wo).

    out = Σ over the taps inside the image of (c − 2·popcount(x ^ w)): taps in the zero padding add 0.
    The innermost loop runs over output channels (contiguous in ``wp``) and vectorizes.
    """
    batch, h, wd, nw = xp.shape
    kh, kw, _, outs = wp.shape
    acc = np.empty(outs, np.int64)
    for b in range(batch):
        for oy in range(out.shape[2]):
            for ox in range(out.shape[3]):
                acc[:] = 0
                taps = 0
                for i in range(kh):
                    iy = oy * stride - pad + i
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = ox * stride - pad + j
                        if ix < 0 or ix >= wd:
                            continue
                        taps += 1
                        for k in range(nw):
                            xv = xp[b, iy, ix, k]
                            for o in range(outs):
                                acc[o] += popcount64(xv ^ wp[i, j, k, o])
                for o in range(outs):
                    out[b, o, oy, ox] = taps * c - 2 * acc[o]


@njit(cache=True)
def _binary_linear(x, wp, out):
    """Fused: pack the signs of float rows x (B, n), then :func:`_xnor_linear` into float32 ``out``."""
    xp = np.empty((x.shape[0], wp.shape[0]), np.uint64)
    _pack_rows(x, xp)
    _xnor_linear(xp, wp, x.shape[1], out)


@njit(cache=True)
def _binary_conv(x, wp, stride, pad, out):
    """Fused: pack the signs of a float NCHW tensor, then :func:`_xnor_conv` into float32 ``out``."""
    xp = np.empty((x.shape[0], x.shape[2], x.shape[3], wp.shape[2]), np.uint64)
    _pack_nchw(x, xp)
    _xnor_conv(xp, wp, x.shape[1], stride, pad, out)


def _floats(x) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous:
        return x  # the common case, without a copy or a call into NumPy
    return np.ascontiguousarray(_numpy(x), dtype=np.float32)


def pack_signs(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Signs of a real tensor (..., n) packed along the last axis (bit 1 where x < 0), compiled."""
    a = _floats(x)
    rows = a.reshape(-1, a.shape[-1])
    out = np.empty((rows.shape[0], n_words(a.shape[-1])), np.uint64)
    _pack_rows(rows, out)
    return out.reshape(a.shape[:-1] + (out.shape[1],))


def pack_signs_nchw(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Signs of a real NCHW tensor packed along channels: (B, H, W, ⌈C/64⌉), the input of :func:`xnor_conv2d`."""
    a = _floats(x)
    if a.ndim != 4:
        raise ValueError(f"expected an NCHW tensor, got shape {a.shape}")
    out = np.empty((a.shape[0], a.shape[2], a.shape[3], n_words(a.shape[1])), np.uint64)
    _pack_nchw(a, out)
    return out


def _check_words(name: str, a: np.ndarray, ndim: int) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != ndim:
        got = f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name} must be a {ndim}-d uint64 array of packed words, got {got}")
    return np.ascontiguousarray(a)


def xnor_linear(xp: np.ndarray, wp: np.ndarray, n: int) -> np.ndarray:
    """Binary linear layer on packed operands: ``x_b W_bᵀ`` as int32 (B, O).

    xp (B, ⌈n/64⌉) packed inputs, wp (⌈n/64⌉, O) packed weights from :func:`pack_linear_weight`,
    n the true input length.
    """
    xp, wp = _check_words("xp", xp, 2), _check_words("wp", wp, 2)
    if xp.shape[1] != wp.shape[0] or n_words(n) != xp.shape[1]:
        raise ValueError(f"shape mismatch: inputs {xp.shape} and weights {wp.shape} "
                         f"must both have ⌈{n}/64⌉ = {n_words(n)} words per input row")
    out = np.empty((xp.shape[0], wp.shape[1]), np.int32)
    _xnor_linear(xp, wp, int(n), out)
    return out


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _conv_out(shape_hw, wp: np.ndarray, stride: int, padding: int, batch: int, dtype) -> np.ndarray:
    if stride < 1 or padding < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride}, {padding}")
    ho = conv_output_size(shape_hw[0], wp.shape[0], stride, padding)
    wo = conv_output_size(shape_hw[1], wp.shape[1], stride, padding)
    if ho < 1 or wo < 1:
        raise ValueError(f"input {shape_hw[0]}×{shape_hw[1]} is smaller than the kernel {wp.shape[:2]}")
    return np.empty((batch, wp.shape[3], ho, wo), dtype)


def xnor_conv2d(xp: np.ndarray, wp: np.ndarray, channels: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Binary convolution on packed operands, zero padding: ``x_b ⊛ W_b`` as int32 NCHW (B, O, Ho, Wo).

    xp (B, H, W, ⌈C/64⌉) channel-packed inputs (:func:`pack_signs_nchw`), wp (kh, kw, ⌈C/64⌉, O)
    packed weights (:func:`pack_conv_weight`), ``channels`` = C.
    """
    xp, wp = _check_words("xp", xp, 4), _check_words("wp", wp, 4)
    if xp.shape[3] != wp.shape[2] or n_words(channels) != xp.shape[3]:
        raise ValueError(f"shape mismatch: inputs {xp.shape} and weights {wp.shape} must both have "
                         f"⌈{channels}/64⌉ = {n_words(channels)} words per pixel")
    out = _conv_out(xp.shape[1:3], wp, stride, padding, xp.shape[0], np.int32)
    _xnor_conv(xp, wp, int(channels), int(stride), int(padding), out)
    return out


def binary_linear(x, wp: np.ndarray) -> np.ndarray:
    """``sign(x) W_bᵀ`` for real inputs x (B, n), packing fused into the kernel; float32 (B, O), exact integers.

    wp (⌈n/64⌉, O) from :func:`pack_linear_weight`.
    """
    a = _floats(x)
    if a.ndim != 2 or n_words(a.shape[1]) != wp.shape[0]:
        raise ValueError(f"shape mismatch: inputs {a.shape} need ⌈n/64⌉ = {wp.shape[0]} words per row")
    out = np.empty((a.shape[0], wp.shape[1]), np.float32)
    _binary_linear(a, wp, out)
    return out


def binary_conv2d(x, wp: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """``sign(x) ⊛ W_b`` for a real NCHW input, packing fused into the kernel; float32 NCHW, exact integers."""
    a = _floats(x)
    if a.ndim != 4 or n_words(a.shape[1]) != wp.shape[2]:
        raise ValueError(f"shape mismatch: NCHW inputs {a.shape} need ⌈C/64⌉ = {wp.shape[2]} words per pixel")
    out = _conv_out(a.shape[2:], wp, stride, padding, a.shape[0], np.float32)
    _binary_conv(a, wp, int(stride), int(padding), out)
    return out


def pack_linear_weight(w) -> np.ndarray:
    """±1 weights (O, n) → packed and transposed (⌈n/64⌉, O), the layout :func:`xnor_linear` reads."""
    return np.ascontiguousarray(pack_pm1(w).T)


def pack_conv_weight(w) -> np.ndarray:
    """±1 weights (O, C, kh, kw) → packed (kh, kw, ⌈C/64⌉, O), the layout :func:`xnor_conv2d` reads."""
    packed = pack_pm1(_numpy(w).transpose(2, 3, 0, 1))  # (kh, kw, O, words)
    return np.ascontiguousarray(packed.transpose(0, 1, 3, 2))
