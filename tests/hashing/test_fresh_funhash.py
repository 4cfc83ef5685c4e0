"""FreshNets' DCT and band budgets; FunHashNN's degenerate case equals HashedNets bit for bit."""
import math

import numpy as np
import pytest
import torch

from companion.hashing import (FreshConv2d, FunHashLinear, HashedLeNet5, HashedLinear, band_budgets, dct2,
                               dct_matrix, high_frequency_energy, idct2)


def test_dct_matrix_matches_the_textbook_sum_and_is_orthonormal():
    n = 5
    d = dct_matrix(n, torch.float64).numpy()
    ref = np.array([[math.sqrt((1 if u == 0 else 2) / n) * math.cos(math.pi * (2 * x + 1) * u / (2 * n))
                     for x in range(n)] for u in range(n)])
    assert np.allclose(d, ref, atol=1e-12)
    assert np.allclose(d @ d.T, np.eye(n), atol=1e-12)


def test_dct_round_trip_is_exact():
    x = torch.randn(7, 3, 5, 5)
    assert torch.allclose(idct2(dct2(x)), x, atol=1e-6)
    const = torch.ones(1, 1, 5, 5)
    c = dct2(const)
    assert abs(float(c[0, 0, 0, 0]) - 5.0) < 1e-5 and float(c.abs().sum() - c[0, 0, 0, 0].abs()) < 1e-5
    assert high_frequency_energy(const) < 1e-10


def test_band_budgets_sum_to_k_and_favour_low_frequencies():
    b = band_budgets(5, 1000, 1562)
    assert sum(b) == 1562 and len(b) == 9 and min(b) >= 1
    per_coefficient = [n / (1000 * sum(1 for u in range(5) for v in range(5) if u + v == i)) for i, n in enumerate(b)]
    assert all(x >= y for x, y in zip(per_coefficient, per_coefficient[1:]))
    with pytest.raises(ValueError, match="bands"):
        band_budgets(5, 10, 3)


def test_fresh_conv_stores_k_weights_and_its_filters_are_the_idct():
    conv = FreshConv2d(20, 50, 5, compression=1 / 16)
    assert conv.weight_real.numel() == round(25_000 / 16)
    assert torch.allclose(dct2(conv.weight), conv.frequency_weight(), atol=1e-5)
    assert int(conv.index.max()) < conv.weight_real.numel()
    with pytest.raises(ValueError):
        FreshConv2d(20, 50, 5, compression=0)


def test_hashed_lenet5_both_kinds_run():
    for conv in ("fresh", "spatial"):
        assert HashedLeNet5(conv=conv)(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="conv"):
        HashedLeNet5(conv="dct")


def test_funhash_one_hash_identity_equals_hashednets_bit_for_bit():
    hashed = HashedLinear(784, 300, compression=1 / 64, seed=4, layer=1)
    fun = FunHashLinear(784, 300, hashed.hashed.buckets, hashes=1, reconstruction="identity", seed=4, layer=1)
    with torch.no_grad():
        fun.weight_real.copy_(hashed.hashed.weight)
        fun.bias.copy_(hashed.bias)
    x = torch.randn(8, 784)
    assert torch.equal(fun.weight, hashed.weight) and torch.equal(fun(x), hashed(x))


def test_funhash_with_mlp_reconstruction_trains_its_g():
    fun = FunHashLinear(20, 10, 16, hashes=4, reconstruction="mlp")
    fun(torch.randn(3, 20)).sum().backward()
    assert fun.g.skip.grad is not None and fun.weight_real.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="identity"):
        FunHashLinear(20, 10, 16, hashes=2)
    with pytest.raises(ValueError, match="K"):
        FunHashLinear(20, 10, 0)
