"""The binary middle of the packed BNN in **one compiled call**: from conv1's float output to fc4's float input.

::

    conv1 output (fp32, PyTorch) ─► [ bn1 + sign → packed words ─► conv2 XNOR-popcount + bn2/sign thresholds
    ─► packed words ─► fc3 XNOR-popcount ─► bn3 + hard-tanh ] ─► fc4 (fp32, PyTorch) → logits

Everything in brackets is one numba call per batch (images in parallel when the batch is large enough), so
no Python runs between the layers. It is exact, not merely close, against the float model:

- **bn1 then sign** and **bn3** are evaluated with PyTorch's own eval-mode arithmetic: ``y = x·α + β`` in
  float32 with ``α = γ / √(σ² + ε)``, ``β = b − μ·α``, each ``a·b + c`` either rounded once (a fused
  multiply-add, as ATen's vectorized kernel is compiled on x86) or twice. Which of these the installed PyTorch
  does is not assumed: :func:`bn_arithmetic` runs the batch norm itself on a probe and keeps the variant that
  reproduces it bit for bit, or none (then :class:`~companion.binarization.network.PackedBNN` keeps its module
  path, exact too);
- bn3 runs on fc3's exact integers, then hard-tanh (a clamp, exact); bn2 and sign are integer thresholds.

conv1 and fc4 stay PyTorch calls (``F.conv2d``; ``F.linear`` then ``+ bias``, as in the trained layer), so the
logits are the float model's logits bit for bit. The tests check it against the modules.
"""
from __future__ import annotations

import numba
import numpy as np
import torch
from numba import njit, prange

from ..formats.bits import WORD
from .bitcore import fma
from .conv import CHUNKS_PER_THREAD, _conv_rows
from .gemm import _accumulate


@njit(cache=True)
def _affine_terms(mean, var, weight, bias, eps, fma_beta):
    """(α, β) float32 of an eval-mode batch norm: ``α = (1 / √(var + ε))·γ``, ``β = b − μ·α`` (one rounding
    with ``fma_beta``)."""
    c = mean.shape[0]
    alpha, beta = np.empty(c, np.float32), np.empty(c, np.float32)
    for i in range(c):
        alpha[i] = (np.float32(1) / np.sqrt(var[i] + eps)) * weight[i]
        beta[i] = fma(-mean[i], alpha[i], bias[i]) if fma_beta else bias[i] - mean[i] * alpha[i]
    return alpha, beta


@njit(cache=True)
def _affine(x, alpha, beta, fma_y):
    """x float32 (N, C, L) → ``x·α + β`` per channel, like the kernels below compute it (the probe's twin)."""
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            a, s = alpha[c], beta[c]
            for i in range(x.shape[2]):
                out[n, c, i] = fma(x[n, c, i], a, s) if fma_y else x[n, c, i] * a + s
    return out


def _floats(t, default):
    return np.ascontiguousarray((default if t is None else t.detach().cpu().numpy()), dtype=np.float32)


def affine_terms(bn: torch.nn.Module, fma_beta: bool) -> tuple[np.ndarray, np.ndarray]:
    """(α, β) of ``bn`` in eval mode, float32 (C,) each, computed as ATen's CPU kernel does."""
    if not isinstance(bn, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
        raise TypeError(f"expected a BatchNorm1d or BatchNorm2d, got {type(bn).__name__}")
    if bn.running_var is None or bn.running_mean is None:
        raise ValueError("the batch norm has no running statistics: it cannot be evaluated for inference")
    c = bn.num_features
    return _affine_terms(_floats(bn.running_mean, None), _floats(bn.running_var, None),
                         _floats(bn.weight, np.ones(c)), _floats(bn.bias, np.zeros(c)), np.float32(bn.eps),
                         fma_beta)


@torch.no_grad()
def bn_arithmetic(bn: torch.nn.Module, probe: torch.Tensor) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """(α, β, fused multiply-add) with which ``x·α + β`` reproduces ``bn(probe)`` (eval mode) **bit for bit**,
    or None if no variant does. ``probe``: inputs shaped as the batch norm will really see them (the kernel
    ATen picks depends on the shape)."""
    was_training = bn.training
    bn.eval()
    try:
        ref = bn(probe).cpu().numpy()
    finally:
        bn.train(was_training)
    x = np.ascontiguousarray(probe.cpu().numpy(), dtype=np.float32)
    x3, ref3 = x.reshape(x.shape[0], x.shape[1], -1), ref.reshape(x.shape[0], x.shape[1], -1)
    for fma_beta in (True, False):
        alpha, beta = affine_terms(bn, fma_beta)
        for fma_y in (True, False):
            if np.array_equal(_affine(x3, alpha, beta, fma_y), ref3):
                return alpha, beta, fma_y
    return None


@njit(cache=True)
def _bn_sign_pack(c1, b, alpha, beta, fma_y, xp, k):
    """Image ``b`` of c1 float32 (B, C, H, W) → xp[k] uint64 (H, W, ⌈C/64⌉): bit 1 where ``x·α + β < 0``."""
    c, hw = c1.shape[1], c1.shape[2] * c1.shape[3]
    planes = c1[b].reshape(c, hw)
    words = xp[k].reshape(hw, xp.shape[3])
    tmp = np.empty(hw, np.uint64)
    for w in range(words.shape[1]):
        tmp[:] = 0
        for ch in range(w * WORD, min(w * WORD + WORD, c)):
            bit, a, s = np.uint64(ch - w * WORD), alpha[ch], beta[ch]
            row = planes[ch]
            if fma_y:
                for p in range(hw):
                    tmp[p] |= np.uint64(fma(row[p], a, s) < 0) << bit
            else:
                for p in range(hw):
                    tmp[p] |= np.uint64(row[p] * a + s < 0) << bit
        for p in range(hw):
            words[p, w] = tmp[p]


@njit(cache=True)
def _bn3_hardtanh(counts, n3, bn3, out_row):
    """fc3's popcounts → integers ``n3 − 2·count`` → bn3 (PyTorch's arithmetic) → hard-tanh, into ``out_row``."""
    alpha, beta, one = bn3[0], bn3[1], np.float32(1.0)
    for o in range(counts.shape[0]):
        z = np.float32(n3 - 2 * counts[o])
        y = fma(z, alpha[o], beta[o]) if bn3[2] else z * alpha[o] + beta[o]
        out_row[o] = min(max(y, -one), one)


@njit(cache=True)
def _core_images(c1, b0, b1, bn1, wp2, geo2, thr2, flip2, wt3, bn3, out):
    """The whole binary middle for images b0..b1: ``out[b]`` = hard-tanh(bn3(fc3(bits(conv2(bits(bn1(c1[b]))))))),
    one image at a time through scratch buffers allocated once."""
    sh, sw, ph, pw, ho, wo = geo2
    xp = np.empty((1, c1.shape[2], c1.shape[3], wp2.shape[2]), np.uint64)
    bits = np.empty((1, ho, wo, (wp2.shape[3] + WORD - 1) // WORD), np.uint64)
    no_ints = np.empty((0, 0, 0, 0), np.int32)  # (a global array would be read-only to numba)
    acc = np.empty(wt3.shape[1], np.int64)
    flat = bits.reshape(1, -1)
    for b in range(b0, b1):
        _bn_sign_pack(c1, b, bn1[0], bn1[1], bn1[2], xp, 0)
        _conv_rows(xp, wp2, c1.shape[1], 0, ho, sh, sw, ph, pw, ho, wo, no_ints, thr2, flip2, bits)
        _accumulate(flat, wt3, 0, 0, wt3.shape[1], acc)
        _bn3_hardtanh(acc, ho * wo * thr2.shape[0], bn3, out[b])


@njit(cache=True)
def _core(c1, bn1, wp2, geo2, thr2, flip2, wt3, bn3, out):
    _core_images(c1, 0, c1.shape[0], bn1, wp2, geo2, thr2, flip2, wt3, bn3, out)


@njit(cache=True, parallel=True)
def _core_parallel(c1, bn1, wp2, geo2, thr2, flip2, wt3, bn3, out, chunks):
    """The images in ``chunks`` contiguous runs, in parallel (scratch allocated once per run)."""
    n = c1.shape[0]
    for t in prange(chunks):
        _core_images(c1, t * n // chunks, (t + 1) * n // chunks, bn1, wp2, geo2, thr2, flip2, wt3, bn3, out)


# ---------------------------------------------------------------- the stages one by one (the time breakdown)
# Each stage of the middle over a whole batch, serial and parallel over images like the core, so that
# report.time_breakdown can time them apart on their real inputs.
@njit(cache=True)
def _stage_pack(c1, bn1, xp):
    for b in range(c1.shape[0]):
        _bn_sign_pack(c1, b, bn1[0], bn1[1], bn1[2], xp, b)


@njit(cache=True, parallel=True)
def _stage_pack_parallel(c1, bn1, xp):
    for b in prange(c1.shape[0]):
        _bn_sign_pack(c1, b, bn1[0], bn1[1], bn1[2], xp, b)


@njit(cache=True)
def _stage_conv(xp, wp2, c, geo2, ints, thr2, flip2, bits):
    sh, sw, ph, pw, ho, wo = geo2
    for b in range(xp.shape[0]):
        _conv_rows(xp, wp2, c, b * ho, (b + 1) * ho, sh, sw, ph, pw, ho, wo, ints, thr2, flip2, bits)


@njit(cache=True, parallel=True)
def _stage_conv_parallel(xp, wp2, c, geo2, ints, thr2, flip2, bits):
    sh, sw, ph, pw, ho, wo = geo2
    for b in prange(xp.shape[0]):
        _conv_rows(xp, wp2, c, b * ho, (b + 1) * ho, sh, sw, ph, pw, ho, wo, ints, thr2, flip2, bits)


@njit(cache=True)
def _stage_fc3(bits, wt3, counts):
    flat = bits.reshape(bits.shape[0], -1)
    for b in range(bits.shape[0]):
        _accumulate(flat, wt3, b, 0, wt3.shape[1], counts[b])


@njit(cache=True, parallel=True)
def _stage_fc3_parallel(bits, wt3, counts):
    flat = bits.reshape(bits.shape[0], -1)
    for b in prange(bits.shape[0]):
        _accumulate(flat, wt3, b, 0, wt3.shape[1], counts[b])


@njit(cache=True)
def _stage_bn3(counts, n3, bn3, out):
    for b in range(counts.shape[0]):
        _bn3_hardtanh(counts[b], n3, bn3, out[b])


@njit(cache=True, parallel=True)
def _stage_bn3_parallel(counts, n3, bn3, out):
    for b in prange(counts.shape[0]):
        _bn3_hardtanh(counts[b], n3, bn3, out[b])


def stages(c1: np.ndarray, operands: tuple, parallel: bool) -> dict:
    """The middle's stages as callables on their real inputs (buffers allocated once), run in order once:
    ``{"pack": …, "conv2": …, "conv2_thresholds": …, "fc3": …, "bn3": …}`` and ``"out"``, fc4's input."""
    bn1, wp2, geo2, thr2, flip2, wt3, bn3 = operands
    b, c, ho, wo = c1.shape[0], c1.shape[1], geo2[4], geo2[5]
    xp = np.empty((b, c1.shape[2], c1.shape[3], wp2.shape[2]), np.uint64)
    ints = np.empty((b, ho, wo, wp2.shape[3]), np.int32)
    bits = np.empty((b, ho, wo, (wp2.shape[3] + WORD - 1) // WORD), np.uint64)
    counts, out = np.empty((b, wt3.shape[1]), np.int64), np.empty((b, wt3.shape[1]), np.float32)
    no_thr, no_flip = np.empty(0, np.int64), np.empty(0, np.bool_)
    no_ints, no_bits = np.empty((0, 0, 0, 0), np.int32), np.empty((0, 0, 0, 0), np.uint64)
    pack, conv, fc3, bn = ((_stage_pack_parallel, _stage_conv_parallel, _stage_fc3_parallel, _stage_bn3_parallel)
                           if parallel else (_stage_pack, _stage_conv, _stage_fc3, _stage_bn3))
    n3 = ho * wo * thr2.shape[0]
    calls = {"pack": lambda: (pack(c1, bn1, xp), xp)[1],  # each returns its output buffer
             "conv2": lambda: (conv(xp, wp2, c, geo2, ints, no_thr, no_flip, no_bits), ints)[1],
             "conv2_thresholds": lambda: (conv(xp, wp2, c, geo2, no_ints, thr2, flip2, bits), bits)[1],
             "fc3": lambda: (fc3(bits, wt3, counts), counts)[1],
             "bn3": lambda: (bn(counts, n3, bn3, out), out)[1]}
    for call in calls.values():
        call()
    return {**calls, "out": out}


def run_core(c1: np.ndarray, operands: tuple, out: np.ndarray, parallel: bool) -> np.ndarray:
    """Unchecked: conv1's output c1 (B, C, H, W) float32 → ``out`` (B, hidden) float32, fc4's input.

    ``operands`` = (bn1 (α, β, fma), conv2 packed weights, conv2 geometry, thresholds, flips, fc3 packed
    weights, bn3 (α, β, fma)), as :meth:`~companion.binarization.network.PackedBNN.fused_operands` builds them."""
    if parallel:
        _core_parallel(c1, *operands, out, min(c1.shape[0], CHUNKS_PER_THREAD * numba.get_num_threads()))
    else:
        _core(c1, *operands, out)
    return out
