"""The seeded hash: deterministic per key, different across keys, uniform over buckets, balanced signs."""
import math

import pytest
import torch

from companion.hashing import bucket_index, chi_square, fmix32, hash32, index_and_sign, sign_hash


def test_same_key_same_buckets_and_different_keys_differ():
    a, b = index_and_sign(300, 784, 3675, seed=7, layer=1), index_and_sign(300, 784, 3675, seed=7, layer=1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert (bucket_index(300, 784, 3675, seed=8, layer=1) != a[0]).float().mean() > 0.99
    assert (bucket_index(300, 784, 3675, seed=7, layer=2) != a[0]).float().mean() > 0.99


def test_known_values_pin_the_hash_across_machines():
    # murmur3 fmix32 of 1 is 0x514E28B7 (the reference C implementation); pins the integer arithmetic
    assert int(fmix32(torch.tensor(1, dtype=torch.int64))) == 0x514E28B7
    assert int(fmix32(torch.tensor(0, dtype=torch.int64))) == 0
    h = hash32(2, 3, seed=0, layer=0)
    assert h.dtype == torch.int64 and int(h.min()) >= 0 and int(h.max()) < 2**32


def test_buckets_are_uniform_chi_square_on_a_large_layer():
    buckets = 1000
    idx = bucket_index(500, 784, buckets, seed=3)  # 392 k virtual weights, 392 per bucket expected
    stat, dof = chi_square(idx, buckets)
    try:
        from scipy.stats import chi2
        assert chi2.sf(stat, dof) > 1e-4
    except ImportError:  # normal approximation of χ²: mean dof, sd √(2·dof); 5 sd is p ≈ 3e-7
        assert abs(stat - dof) < 5 * math.sqrt(2 * dof)
    # and a hash that ignores the column would fail the same test
    bad = idx[:, :1].expand_as(idx)
    assert chi_square(bad, buckets)[0] > dof + 5 * math.sqrt(2 * dof)


def test_signs_are_balanced_and_independent_of_buckets():
    idx, xi = index_and_sign(400, 500, 2, seed=1)
    assert set(xi.unique().tolist()) == {-1.0, 1.0}
    assert abs(float(xi.mean())) < 0.01
    for b in (0, 1):  # the sign is fair inside each bucket too
        assert abs(float(xi[idx == b].mean())) < 0.015
    assert torch.equal(sign_hash(400, 500, seed=1), xi)


@pytest.mark.parametrize("kwargs", [dict(buckets=0), dict(buckets=2.5), dict(seed=-1), dict(layer=-2)])
def test_bad_keys_raise(kwargs):
    args = dict(rows=3, cols=4, buckets=5, seed=0, layer=0) | kwargs
    with pytest.raises(ValueError):
        bucket_index(**args)


def test_zero_rows_raise():
    with pytest.raises(ValueError, match="rows and cols"):
        hash32(0, 4, 0, 0)
