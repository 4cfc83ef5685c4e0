"""±1 values and signs packed into 64-bit words, and the weight layouts the XNOR-popcount kernels read.

Encoding: bit 1 ↔ −1, bit 0 ↔ +1 (``sign(0) = +1``); element ``i`` of a vector goes to bit ``i % 64`` of word
``i // 64`` (:func:`companion.formats.bits.pack_bits_lsb64`). Padding bits past the true length are 0 in
*both* operands, so they never differ and never count.

Activations of a convolution are packed along the channels, the words of one pixel contiguous:
(B, C, H, W) floats → (B, H, W, ⌈C/64⌉) words, so a kernel tap reads one short run of words per pixel.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..formats.bits import WORD, n_words, pack_bits_lsb64, unpack_bits_lsb64
from .bitcore import as_floats, as_numpy


def pack_pm1(t) -> np.ndarray:
    """A tensor of exactly ±1 (..., n) → packed words (..., ⌈n/64⌉). Any other value raises."""
    a = as_numpy(t)
    bad = (a != 1) & (a != -1)
    if bad.any():
        raise ValueError(f"pack_pm1 expects only -1 and +1 values; found {a[bad].flat[0].item()!r} "
                         f"({int(bad.sum())} of {a.size} entries); binarize with sign() first")
    return pack_bits_lsb64(a < 0)


def unpack_pm1(words: np.ndarray, n: int) -> np.ndarray:
    """Packed words → float32 ±1 (..., n)."""
    return 1.0 - 2.0 * unpack_bits_lsb64(words, n).astype(np.float32)


# ---------------------------------------------------------------- compiled sign packers
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
def _pack_word(x, out, b, k, tmp):
    """Word ``k`` of every pixel of image ``b``: channels 64k … 64k + 63 of x float32 (B, C, H, W) → out[b, :, :, k].

    One channel plane at a time, OR-ing its sign bits into a row of per-pixel words (``tmp``, H·W uint64):
    the loop over pixels reads contiguous floats and vectorizes.
    """
    c, hw = x.shape[1], x.shape[2] * x.shape[3]
    planes = x[b].reshape(c, hw)
    words = out[b].reshape(hw, out.shape[3])
    tmp[:] = 0
    for ch in range(k * WORD, min(k * WORD + WORD, c)):
        bit = np.uint64(ch - k * WORD)
        row = planes[ch]
        for p in range(hw):
            tmp[p] |= np.uint64(row[p] < 0) << bit
    for p in range(hw):
        words[p, k] = tmp[p]


@njit(cache=True)
def _pack_nchw(x, out):
    """x float32 (B, C, H, W) → out uint64 (B, H, W, ⌈C/64⌉)."""
    tmp = np.empty(x.shape[2] * x.shape[3], np.uint64)
    for b in range(x.shape[0]):
        for k in range(out.shape[3]):
            _pack_word(x, out, b, k, tmp)


@njit(cache=True, parallel=True)
def _pack_nchw_parallel(x, out):
    """:func:`_pack_nchw` with the (image, word) pairs in parallel: a single image with several words splits too."""
    words = out.shape[3]
    for i in prange(x.shape[0] * words):
        tmp = np.empty(x.shape[2] * x.shape[3], np.uint64)
        _pack_word(x, out, i // words, i % words, tmp)


def pack_signs(x) -> np.ndarray:
    """Signs of a real tensor (..., n) packed along the last axis (bit 1 where x < 0), compiled."""
    a = as_floats(x)
    rows = a.reshape(-1, a.shape[-1])
    out = np.empty((rows.shape[0], n_words(a.shape[-1])), np.uint64)
    _pack_rows(rows, out)
    return out.reshape(a.shape[:-1] + (out.shape[1],))


def pack_signs_nchw(x, threads: int = 1) -> np.ndarray:
    """Signs of a real NCHW tensor packed along channels: (B, H, W, ⌈C/64⌉), the input of the conv kernels.

    ``threads`` > 1 packs the images of a batch in parallel (numba's thread count must already be set:
    :func:`~companion.binarization.bitcore.kernel_threads` does it).
    """
    a = as_floats(x)
    if a.ndim != 4:
        raise ValueError(f"expected an NCHW tensor, got shape {a.shape}")
    out = np.empty((a.shape[0], a.shape[2], a.shape[3], n_words(a.shape[1])), np.uint64)
    if threads > 1 and a.shape[0] * out.shape[3] > 1:
        _pack_nchw_parallel(a, out)
    else:
        _pack_nchw(a, out)
    return out


# ---------------------------------------------------------------- weight layouts
def pack_linear_weight(w) -> np.ndarray:
    """±1 weights (O, n) → packed and transposed (⌈n/64⌉, O): the inner loop of the GEMM runs over outputs."""
    return np.ascontiguousarray(pack_pm1(w).T)


def pack_conv_weight(w) -> np.ndarray:
    """±1 weights (O, C, kh, kw) → packed (kh, kw, ⌈C/64⌉, O), the layout of the conv kernels."""
    packed = pack_pm1(as_numpy(w).transpose(2, 3, 0, 1))  # (kh, kw, O, words)
    return np.ascontiguousarray(packed.transpose(0, 1, 3, 2))


def pack_linear_weight_nhwc(w, channels: int, height: int, width: int) -> np.ndarray:
    """±1 weights (O, C·H·W) of a linear layer after ``flatten`` of an NCHW map → (H·W·⌈C/64⌉, O).

    The features are reordered to (H, W, C) and packed per pixel, so the layer reads the channel-packed
    output of a convolution (B, H, W, ⌈C/64⌉) as it is, with no repacking: the inputs' padding bits
    (past C in each pixel's last word) meet zero padding bits here.
    """
    a = as_numpy(w)
    if a.ndim != 2 or a.shape[1] != channels * height * width:
        raise ValueError(f"weights {a.shape} do not flatten a {channels}×{height}×{width} map")
    per_pixel = a.reshape(a.shape[0], channels, height * width).transpose(0, 2, 1)  # (O, HW, C)
    packed = pack_pm1(per_pixel).reshape(a.shape[0], -1)  # (O, HW·words)
    return np.ascontiguousarray(packed.T)

