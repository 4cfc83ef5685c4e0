"""When is simulating fixed point in float32 exact? A product of fixed-point matrices computed in float32 against
an integer reference.

Operands ``a = m_a · 2^e_a`` and ``b = m_b · 2^e_b`` with ``wl``-bit mantissas give ``a·b = (m_a·m_b) · 2^(e_a+e_b)``:
the float32 product is exact as long as every integer it forms — each product ``|m_a m_b| ≤ 2^(2wl−2)`` and
each partial sum of ``K`` of them — has at most 24 significant bits (float32's mantissa), in whatever order the
BLAS adds them. For ``wl = 8`` and ``K = 784`` (LeNet-300-100's first layer): ``784 · 2^14 < 2^24``, exact; for
``wl = 16`` a single product may need 30 bits, so float32 rounds and the simulation drifts from the integer
hardware it stands for.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .formats import dynamic_fixed_point, fixed_point_mantissas


def integer_matmul(ma: torch.Tensor, mb: torch.Tensor) -> np.ndarray:
    """``ma @ mb.T`` of integer mantissas in NumPy int64 (no BLAS, no float anywhere): the reference."""
    return np.asarray(ma.cpu().numpy(), dtype=np.int64) @ np.asarray(mb.cpu().numpy(), dtype=np.int64).T


def matmul_exactness(x: torch.Tensor, w: torch.Tensor, wl: int) -> dict:
    """``x`` (N, K) and ``w`` (M, K) in ``wl``-bit dynamic fixed point; their product in float32 (the simulation)
    against the int64 product of their mantissas, scaled exactly.

    Returns ``exact_fraction`` (outputs equal bit for bit), ``max_error_lsb`` (largest difference in units of
    the product's LSB ``2^(e_x + e_w)``), ``bound_bits`` (``log2(K · 2^(2wl−2))``: the worst case) and
    ``max_sum_bits`` (``log2`` of the largest |integer| actually formed).
    """
    fmt = dynamic_fixed_point(wl)
    xq, wq = fmt.quantize(x.float()), fmt.quantize(w.float())
    (mx, ex), (mw, ew) = fixed_point_mantissas(xq, fmt), fixed_point_mantissas(wq, fmt)
    simulated = (xq @ wq.T).double().cpu().numpy()
    exact_int = integer_matmul(mx, mw)
    lsb = 2.0 ** (ex + ew)
    error = np.abs(simulated / lsb - exact_int)  # float64 holds these integers exactly (< 2^53)
    biggest = int(np.abs(exact_int).max())
    return {"wl": wl, "K": x.shape[1], "exact_fraction": float((error == 0).mean()), "max_error_lsb": float(error.max()),
            "bound_bits": math.log2(x.shape[1]) + 2 * (wl - 1), "max_sum_bits": math.log2(biggest) if biggest else 0.0}
