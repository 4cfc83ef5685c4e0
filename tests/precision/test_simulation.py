"""Simulating fixed point in float32: exact for 8-bit operands, not for 16-bit ones."""
import numpy as np
import torch

from companion.precision.simulation import integer_matmul, matmul_exactness


def test_integer_matmul_by_hand():
    a = torch.tensor([[1, 2], [3, 4]])
    b = torch.tensor([[5, 6]])
    assert integer_matmul(a, b).tolist() == [[17], [39]]
    big = torch.tensor([[2 ** 30, 2 ** 30]])
    assert integer_matmul(big, big).tolist() == [[2 ** 61]]  # int64 holds what float32 cannot
    assert integer_matmul(a, b).dtype == np.int64


def test_eight_bits_is_exact_and_sixteen_is_not():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(64, 784, generator=g), torch.randn(100, 784, generator=g) * 0.05
    r8 = matmul_exactness(x, w, 8)
    assert r8["exact_fraction"] == 1.0 and r8["max_error_lsb"] == 0.0 and r8["bound_bits"] < 24
    assert r8["max_sum_bits"] <= r8["bound_bits"]
    r16 = matmul_exactness(x, w, 16)
    assert r16["exact_fraction"] < 0.5 and r16["max_error_lsb"] > 1 and r16["bound_bits"] > 24
