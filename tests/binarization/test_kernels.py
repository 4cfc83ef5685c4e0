"""The XNOR-popcount kernels: exactly the integers of the float ±1 computation."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion.binarization import kernels as bitpack
from companion.binarization import sign
from companion.binarization.kernels import (pack_conv_weight, pack_linear_weight, pack_pm1, pack_signs, xnor_conv2d,
                                            xnor_linear)
from companion.formats.bits import pack_bits_lsb64


def pm1(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, shape, generator=g).float() * 2 - 1


def test_pack_signs_matches_sign_then_pack():
    x = torch.randn(4, 3, 130)
    x[0, 0, :5] = 0.0  # sign(0) = +1
    np.testing.assert_array_equal(pack_signs(x), pack_pm1(sign(x)))
    img = torch.randn(2, 70, 3, 5)
    img[0, :, 0, 0] = 0.0
    np.testing.assert_array_equal(bitpack.pack_signs_nchw(img), pack_pm1(sign(img).permute(0, 2, 3, 1)))
    with pytest.raises(ValueError, match="NCHW"):
        bitpack.pack_signs_nchw(torch.randn(3, 4))


def test_pack_pm1_rejects_other_values():
    with pytest.raises(ValueError, match=r"only -1 and \+1.*found 0.5"):
        pack_pm1(torch.tensor([1.0, 0.5, -1.0]))
    with pytest.raises(ValueError, match="only -1 and"):
        pack_pm1(np.zeros(3))
    with pytest.raises(ValueError, match="at least one element"):
        pack_bits_lsb64(np.zeros((2, 0), bool))


# ---------------------------------------------------------------- kernels against float ±1 arithmetic
@pytest.mark.parametrize("n", [1, 64, 100, 130, 1024])
@pytest.mark.parametrize("batch", [1, 3])
def test_xnor_linear_equals_float_dot_product(n, batch):
    x, w = pm1(batch, n, seed=1), pm1(5, n, seed=2)
    out = xnor_linear(pack_pm1(x), pack_linear_weight(w), n)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, F.linear(x, w).numpy().astype(np.int32))
    real = torch.randn(batch, n)
    np.testing.assert_array_equal(bitpack.binary_linear(real, pack_linear_weight(w)), F.linear(sign(real), w).numpy())


def test_xnor_linear_many_outputs():
    x, w = pm1(2, 130, seed=9), pm1(1100, 130, seed=10)
    np.testing.assert_array_equal(xnor_linear(pack_pm1(x), pack_linear_weight(w), 130), F.linear(x, w).numpy())


@pytest.mark.parametrize("channels,stride,padding", [(3, 1, 1), (64, 1, 1), (70, 2, 1), (128, 1, 0), (5, 2, 2)])
def test_xnor_conv_equals_float_conv_with_zero_padding(channels, stride, padding):
    x, w = pm1(2, channels, 7, 9, seed=3), pm1(6, channels, 3, 3, seed=4)
    xp = pack_pm1(x.permute(0, 2, 3, 1))
    out = xnor_conv2d(xp, pack_conv_weight(w), channels, stride, padding)
    ref = F.conv2d(x, w, stride=stride, padding=padding)
    assert out.shape == tuple(ref.shape) and out.dtype == np.int32
    np.testing.assert_array_equal(out, ref.numpy().astype(np.int32))
    real = torch.randn(2, channels, 7, 9)  # fused path: signs of real inputs packed inside the kernel
    fused = bitpack.binary_conv2d(real, pack_conv_weight(w), stride, padding)
    assert fused.dtype == np.float32
    np.testing.assert_array_equal(fused, F.conv2d(sign(real), w, stride=stride, padding=padding).numpy())


def test_kernels_reject_shape_mismatch_and_bad_dtypes():
    xp, wp = pack_pm1(pm1(2, 100)), pack_linear_weight(pm1(3, 200))
    with pytest.raises(ValueError, match="shape mismatch"):
        xnor_linear(xp, wp, 100)
    with pytest.raises(ValueError, match="shape mismatch"):
        xnor_linear(xp, pack_linear_weight(pm1(3, 100)), 200)
    with pytest.raises(ValueError, match="uint64"):
        xnor_linear(xp.astype(np.int64), pack_linear_weight(pm1(3, 100)), 100)
    with pytest.raises(ValueError, match="4-d uint64"):
        xnor_conv2d(xp, pack_conv_weight(pm1(4, 100, 3, 3)), 100)
    xc = pack_pm1(pm1(1, 2, 2, 64))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        xnor_conv2d(xc, pack_conv_weight(pm1(4, 64, 3, 3)), 64)
    with pytest.raises(ValueError, match="shape mismatch"):
        xnor_conv2d(xc, pack_conv_weight(pm1(4, 128, 1, 1)), 64)
    with pytest.raises(ValueError, match="shape mismatch"):
        bitpack.binary_linear(torch.randn(2, 200), pack_linear_weight(pm1(3, 100)))
    with pytest.raises(ValueError, match="shape mismatch"):
        bitpack.binary_conv2d(torch.randn(1, 128, 5, 5), pack_conv_weight(pm1(4, 64, 3, 3)))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        xnor_conv2d(xc, pack_conv_weight(pm1(4, 64, 1, 1)), 64, stride=0)
