"""The binary convolution kernels: exact integers of the float ±1 convolution with zero padding, any geometry."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion.binarization import apply_thresholds, sign
from companion.binarization import conv
from companion.binarization.packing import pack_conv_weight, pack_pm1, pack_signs_nchw
from companion.formats.bits import pack_bits_lsb64
from companion.measure import torch_threads

GEOMETRIES = [  # channels, outputs, (H, W), kernel, stride, padding
    (3, 6, (7, 9), (3, 3), 1, 1), (64, 64, (14, 14), (3, 3), 2, 1), (70, 33, (9, 7), (3, 3), 2, 1),
    (128, 16, (8, 8), (3, 3), 1, 2), (5, 7, (6, 5), (1, 1), 1, 0), (130, 65, (5, 6), (1, 1), 2, 1),
    (66, 9, (9, 8), (5, 5), 1, 2), (7, 12, (11, 10), (5, 5), 3, 0), (70, 65, (6, 11), (3, 5), (2, 1), (1, 2)),
    (9, 4, (7, 6), (2, 3), (1, 2), (0, 1)), (65, 3, (5, 5), (5, 1), 1, (2, 0)),
]


@pytest.mark.parametrize("channels,outs,hw,kernel,stride,padding", GEOMETRIES)
def test_xnor_conv_equals_float_conv_with_zero_padding(channels, outs, hw, kernel, stride, padding, pm1):
    x, w = pm1(2, channels, *hw, seed=3), pm1(outs, channels, *kernel, seed=4)
    out = conv.xnor_conv2d(pack_signs_nchw(x), pack_conv_weight(w), channels, stride, padding)
    ref = F.conv2d(x, w, stride=stride, padding=padding)
    assert out.shape == tuple(ref.shape) and out.dtype == np.int32
    np.testing.assert_array_equal(out, ref.numpy().astype(np.int32))
    real = torch.randn(2, channels, *hw)  # fused path: signs of real inputs packed inside the kernel call
    fused = conv.binary_conv2d(real, pack_conv_weight(w), stride, padding)
    assert fused.dtype == np.float32
    np.testing.assert_array_equal(fused, F.conv2d(sign(real), w, stride=stride, padding=padding).numpy())


@pytest.mark.parametrize("channels,outs,hw,kernel,stride,padding", GEOMETRIES[::2])
def test_xnor_conv_bits_are_the_thresholded_signs(channels, outs, hw, kernel, stride, padding, pm1):
    x, w = pm1(3, channels, *hw, seed=5), pm1(outs, channels, *kernel, seed=6)
    g = torch.Generator().manual_seed(7)
    threshold, flip = torch.randint(-20, 20, (outs,), generator=g), torch.randint(0, 2, (outs,), generator=g).bool()
    bits = conv.xnor_conv2d_bits(pack_signs_nchw(x), pack_conv_weight(w), channels, threshold, flip, stride, padding)
    negative = apply_thresholds(F.conv2d(x, w, stride=stride, padding=padding), threshold, flip)
    np.testing.assert_array_equal(bits, pack_bits_lsb64(negative.permute(0, 2, 3, 1).numpy()))


def test_parallel_conv_gives_the_same_integers(pm1):
    x, w = torch.randn(4, 128, 16, 16), pm1(128, 128, 3, 3, seed=8)
    with torch_threads(1):
        one = conv.binary_conv2d(x, pack_conv_weight(w), 1, 1)
    with torch_threads(2):
        two = conv.binary_conv2d(x, pack_conv_weight(w), 1, 1)
        bits = conv.sign_conv_bits(x.numpy(), pack_conv_weight(w), conv.geometry((16, 16), pack_conv_weight(w), 1, 1),
                                   np.zeros(128, np.int64), np.zeros(128, bool))
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, F.conv2d(sign(x), w, padding=1).numpy())
    np.testing.assert_array_equal(bits, pack_bits_lsb64(np.moveaxis(one < 0, 1, -1)))


def test_conv_kernels_reject_bad_input(pm1):
    xc = pack_pm1(pm1(1, 2, 2, 64))
    with pytest.raises(ValueError, match="4-d uint64"):
        conv.xnor_conv2d(pack_pm1(pm1(2, 100)), pack_conv_weight(pm1(4, 100, 3, 3)), 100)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv.xnor_conv2d(xc, pack_conv_weight(pm1(4, 64, 3, 3)), 64)
    with pytest.raises(ValueError, match="shape mismatch"):
        conv.xnor_conv2d(xc, pack_conv_weight(pm1(4, 128, 1, 1)), 64)
    with pytest.raises(ValueError, match="shape mismatch"):
        conv.binary_conv2d(torch.randn(1, 128, 5, 5), pack_conv_weight(pm1(4, 64, 3, 3)))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv.xnor_conv2d(xc, pack_conv_weight(pm1(4, 64, 1, 1)), 64, stride=0)
    with pytest.raises(ValueError, match="padding must be an int or a pair"):
        conv.xnor_conv2d(xc, pack_conv_weight(pm1(4, 64, 1, 1)), 64, padding=(1, 1, 1))


@pytest.mark.parametrize("batch,hw,stride", [(1, (16, 16), 1), (3, (13, 13), 2), (5, (9, 7), 1)])
def test_parallel_conv_runs_of_rows_cover_every_row_once(batch, hw, stride, pm1):
    """Rows split into runs per thread (CHUNKS_PER_THREAD): counts that do not divide evenly included."""
    x, w = pm1(batch, 130, *hw, seed=9), pm1(96, 130, 3, 3, seed=10)  # 130·9·… words: enough to run in parallel
    xp, wp = pack_signs_nchw(x), pack_conv_weight(w)
    with torch_threads(2):
        got = conv.xnor_conv2d(xp, wp, 130, stride, 1)
    np.testing.assert_array_equal(got, F.conv2d(x, w, stride=stride, padding=1).numpy())
