"""The binary linear kernels: exactly the integers of the float ±1 computation, and thresholded bits."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion.binarization import apply_thresholds, sign
from companion.binarization import gemm
from companion.binarization.bitcore import PARALLEL_MIN_WORDS, kernel_threads
from companion.binarization.packing import pack_linear_weight, pack_pm1
from companion.formats.bits import pack_bits_lsb64
from companion.measure import torch_threads


@pytest.mark.parametrize("n", [1, 63, 64, 100, 130, 1024])
@pytest.mark.parametrize("batch", [1, 3, 17])
def test_xnor_linear_equals_float_dot_product(n, batch, pm1):
    x, w = pm1(batch, n, seed=1), pm1(300, n, seed=2)  # 300 outputs: two output blocks, the last partial
    out = gemm.xnor_linear(pack_pm1(x), pack_linear_weight(w), n)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, F.linear(x, w).numpy().astype(np.int32))
    real = torch.randn(batch, n)
    np.testing.assert_array_equal(gemm.binary_linear(real, pack_linear_weight(w)), F.linear(sign(real), w).numpy())


@pytest.mark.parametrize("outs", [5, 64, 300, 1100])
def test_xnor_linear_bits_are_the_thresholded_signs(outs, pm1):
    x, w = pm1(11, 200, seed=5), pm1(outs, 200, seed=6)
    g = torch.Generator().manual_seed(7)
    threshold, flip = torch.randint(-30, 30, (outs,), generator=g), torch.randint(0, 2, (outs,), generator=g).bool()
    bits = gemm.xnor_linear_bits(pack_pm1(x), pack_linear_weight(w), 200, threshold, flip)
    expected = pack_bits_lsb64(apply_thresholds(F.linear(x, w), threshold, flip).numpy())
    np.testing.assert_array_equal(bits, expected)  # padding bits of the last word are 0 too


def test_parallel_kernel_gives_the_same_integers(pm1):
    x, w = pm1(40, 1024, seed=8), pm1(1024, 1024, seed=9)
    assert 40 * 16 * 1024 >= PARALLEL_MIN_WORDS
    with torch_threads(1):
        assert kernel_threads(40 * 16 * 1024) == 1
        one = gemm.xnor_linear(pack_pm1(x), pack_linear_weight(w), 1024)
    with torch_threads(2):
        assert kernel_threads(40 * 16 * 1024) == min(2, torch.get_num_threads())
        assert kernel_threads(PARALLEL_MIN_WORDS - 1) == 1  # too little work to wake a second thread
        two = gemm.xnor_linear(pack_pm1(x), pack_linear_weight(w), 1024)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, F.linear(x, w).numpy())


def test_linear_kernels_reject_shape_mismatch_and_bad_dtypes(pm1):
    xp, wp = pack_pm1(pm1(2, 100)), pack_linear_weight(pm1(3, 200))
    with pytest.raises(ValueError, match="shape mismatch"):
        gemm.xnor_linear(xp, wp, 100)
    with pytest.raises(ValueError, match="shape mismatch"):
        gemm.xnor_linear(xp, pack_linear_weight(pm1(3, 100)), 200)
    with pytest.raises(ValueError, match="uint64"):
        gemm.xnor_linear(xp.astype(np.int64), pack_linear_weight(pm1(3, 100)), 100)
    with pytest.raises(ValueError, match="shape mismatch"):
        gemm.binary_linear(torch.randn(2, 200), pack_linear_weight(pm1(3, 100)))
    with pytest.raises(ValueError, match=r"one entry per output \(3\)"):
        gemm.xnor_linear_bits(xp, pack_linear_weight(pm1(3, 100)), 100, np.zeros(4), np.zeros(3, bool))


def test_work_blocks_are_long_but_one_per_thread_at_least():
    assert gemm._blocks(32, 1024, 1) == (32, 1024, 1)
    assert gemm._blocks(32, 1024, 2) == (16, 1024, 2)
    assert gemm._blocks(1, 1024, 2) == (1, 512, 2)      # one sample: the outputs are split
    assert gemm._blocks(40, 1100, 1) == (32, 1024, 4)   # blocks of 1024 outputs: a multiple of 64
    assert gemm._blocks(3, 5, 2) == (2, 64, 2)
