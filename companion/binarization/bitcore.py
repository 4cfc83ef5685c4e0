"""What every packed kernel shares: the popcount, the vector-width hint, the thread count and argument checks.

- :func:`popcount64`: LLVM's ``ctpop`` on a uint64; in a loop over output channels the compiler turns it into
  ``vpopcntq`` on CPUs with AVX-512 VPOPCNTDQ (4 or 8 words per instruction), a scalar ``popcnt`` elsewhere.
- :func:`wide_vectors`: LLVM tunes Intel AVX-512 CPUs to prefer 256-bit vectors (older Xeons lowered their
  clock on 512-bit code). The kernels mark themselves with the ``prefer-vector-width=512`` function attribute,
  so that where 512-bit registers exist the loop over output channels uses them; elsewhere it changes nothing.
- :func:`kernel_threads`: the kernels run on as many threads as PyTorch has *at call time*
  (``torch.get_num_threads()``, capped at numba's pool), so ``measure.latency_table(..., threads=n)`` gives
  both sides of a comparison ``n`` threads. Like PyTorch's own grain size, a call with less work than
  :data:`PARALLEL_MIN_WORDS` XOR-popcounts runs on the calling thread: waking threads costs more than it saves.
"""
from __future__ import annotations

import numba
import numpy as np
import torch
from numba import njit, types
from numba.core.extending import intrinsic

# A call runs in parallel only with at least this many XOR-popcounts of 64-bit words (~10 µs on one core):
# below it, waking the second thread costs more than it saves.
PARALLEL_MIN_WORDS = 1 << 17


@intrinsic
def popcount64(typingctx, x):
    """Number of set bits of a uint64, as LLVM's ``ctpop`` (``popcnt``; ``vpopcntq`` when vectorized)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.int64(types.uint64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a·b + c`` rounded once (LLVM's ``llvm.fma``): what a C++ compiler emits for ``a * b + c`` where it
    contracts, as in PyTorch's CPU batch-norm kernel. Three floats of one type."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return a(a, b, c), codegen


@intrinsic
def wide_vectors(typingctx):
    """Mark the calling jitted function to prefer 512-bit vectors (a no-op without AVX-512)."""
    def codegen(context, builder, signature, args):
        attrs = builder.function.attributes
        for attr in ('"prefer-vector-width"="512"', '"min-legal-vector-width"="512"'):
            set.add(attrs, attr)  # llvmlite validates only enum attributes; string attributes go in as they are
        return context.get_dummy_value()
    return types.none(), codegen


@njit(cache=True)
def threshold_bits(acc, n, thr, flip, words):
    """Pack thresholded outputs into words: bit ``o`` of row ``r`` is ``(z < thr[o]) XOR flip[o]``.

    ``z = n[r] − 2·acc[r, o]``. Computed branch-free as the sign bit of ``(z − thr) XOR −flip`` in a fixed
    64-step loop per word, so it vectorizes. acc (R, O) int64, n (R,) int64, thr (O,) int64, flip (O,) bool,
    words (R, ⌈O/64⌉) uint64 (its padding bits past O are 0).
    """
    outs = acc.shape[1]
    full = outs // 64
    for r in range(acc.shape[0]):
        nr = n[r]
        for k in range(full):
            word = np.uint64(0)
            for o in range(64):
                i = k * 64 + o
                v = np.uint64((nr - 2 * acc[r, i] - thr[i]) ^ -np.int64(flip[i]))
                word |= (v >> np.uint64(63)) << np.uint64(o)
            words[r, k] = word
        if full < words.shape[1]:  # the last, partial word
            word = np.uint64(0)
            for i in range(full * 64, outs):
                v = np.uint64((nr - 2 * acc[r, i] - thr[i]) ^ -np.int64(flip[i]))
                word |= (v >> np.uint64(63)) << np.uint64(i - full * 64)
            words[r, full] = word


def kernel_threads(words: int) -> int:
    """Threads for a call doing ``words`` XOR-popcounts: PyTorch's thread count now, capped at numba's pool;
    1 below :data:`PARALLEL_MIN_WORDS`. Above it numba's thread count is set to match (``prange`` uses it)."""
    if words < PARALLEL_MIN_WORDS:
        return 1
    threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if threads > 1 and numba.get_num_threads() != threads:
        numba.set_num_threads(threads)
    return threads


def as_numpy(t) -> np.ndarray:
    """A tensor's data as a NumPy array (no copy on the CPU), or ``np.asarray`` of anything else."""
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def as_floats(x) -> np.ndarray:
    """A C-contiguous float32 NumPy array of ``x``, without a copy when it already is one (a CPU float32 tensor
    not requiring grad, or such an array): ``Tensor.numpy()`` first, the general path only when it refuses."""
    try:
        a = x.numpy()
    except (AttributeError, RuntimeError, TypeError):  # an array, a tensor needing grad or on a GPU, a list
        a = as_numpy(x)
    if a.dtype == np.float32 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.float32)


def check_words(name: str, a, ndim: int) -> np.ndarray:
    """``a`` as a C-contiguous ``ndim``-d uint64 array of packed words, or a clear error."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != ndim:
        got = f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name} must be a {ndim}-d uint64 array of packed words, got {got}")
    return np.ascontiguousarray(a)


def check_operands(xp, wp, n: int, ndim: int, axes: tuple[int, int], per: str) -> tuple[np.ndarray, np.ndarray]:
    """Packed inputs and weights that agree: ``xp.shape[axes[0]] == wp.shape[axes[1]] == ⌈n/64⌉`` words ``per`` …"""
    xp, wp = check_words("xp", xp, ndim), check_words("wp", wp, ndim)
    words = -(-int(n) // 64)
    if xp.shape[axes[0]] != wp.shape[axes[1]] or xp.shape[axes[0]] != words:
        raise ValueError(f"shape mismatch: inputs {xp.shape} and weights {wp.shape} must both have "
                         f"⌈{n}/64⌉ = {words} words per {per}")
    return xp, wp


def check_thresholds(threshold, flip, outs: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output integer thresholds and boolean flips (:mod:`companion.binarization.fold`), checked, as the
    kernels read them (int64 and bool)."""
    threshold, flip = as_numpy(threshold), as_numpy(flip)
    if threshold.shape != (outs,) or flip.shape != (outs,):
        raise ValueError(f"threshold and flip must have one entry per output ({outs}), "
                         f"got shapes {threshold.shape} and {flip.shape}")
    return np.ascontiguousarray(threshold, dtype=np.int64), np.ascontiguousarray(flip, dtype=np.bool_)
