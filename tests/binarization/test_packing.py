"""Packing ±1 values and signs into words, and the weight layouts."""
import numpy as np
import pytest
import torch

from companion.binarization import sign
from companion.binarization.packing import (pack_conv_weight, pack_linear_weight, pack_linear_weight_nhwc, pack_pm1,
                                            pack_signs, pack_signs_nchw, unpack_pm1)
from companion.formats.bits import pack_bits_lsb64


def test_pack_signs_matches_sign_then_pack():
    x = torch.randn(4, 3, 130)
    x[0, 0, :5] = 0.0  # sign(0) = +1
    np.testing.assert_array_equal(pack_signs(x), pack_pm1(sign(x)))
    img = torch.randn(2, 70, 3, 5)
    img[0, :, 0, 0] = 0.0
    expected = pack_pm1(sign(img).permute(0, 2, 3, 1))
    np.testing.assert_array_equal(pack_signs_nchw(img), expected)
    np.testing.assert_array_equal(pack_signs_nchw(img, threads=2), expected)  # the parallel packer, same words
    with pytest.raises(ValueError, match="NCHW"):
        pack_signs_nchw(torch.randn(3, 4))


def test_pack_pm1_round_trip_and_rejects_other_values(pm1):
    x = pm1(3, 130, seed=4)
    np.testing.assert_array_equal(unpack_pm1(pack_pm1(x), 130), x.numpy())
    assert pack_pm1(x).shape == (3, 3) and (pack_pm1(x)[:, -1] >> np.uint64(2) == 0).all()  # padding bits 0
    with pytest.raises(ValueError, match=r"only -1 and \+1.*found 0.5"):
        pack_pm1(torch.tensor([1.0, 0.5, -1.0]))
    with pytest.raises(ValueError, match="only -1 and"):
        pack_pm1(np.zeros(3))
    with pytest.raises(ValueError, match="at least one element"):
        pack_bits_lsb64(np.zeros((2, 0), bool))


def test_weight_layouts(pm1):
    w = pm1(5, 70, 3, 2, seed=1)
    wp = pack_conv_weight(w)
    assert wp.shape == (3, 2, 2, 5)
    np.testing.assert_array_equal(wp[1, 0, :, 3], pack_pm1(w[3, :, 1, 0]))
    lin = pm1(4, 130, seed=2)
    assert pack_linear_weight(lin).shape == (3, 4)
    np.testing.assert_array_equal(pack_linear_weight(lin)[:, 2], pack_pm1(lin[2]))


def test_nhwc_linear_weight_reads_a_flattened_map_in_pixel_order(pm1):
    c, h, w = 70, 2, 3
    weights = pm1(4, c * h * w, seed=3)
    wp = pack_linear_weight_nhwc(weights, c, h, w)
    assert wp.shape == (h * w * 2, 4)
    # pixel (1, 2)'s two words of output 0 hold that pixel's 70 channel weights, read from the NCHW flattening
    pixel = 1 * w + 2
    nchw = weights[0].view(c, h, w)[:, 1, 2]
    np.testing.assert_array_equal(wp[2 * pixel:2 * pixel + 2, 0], pack_pm1(nchw))
    with pytest.raises(ValueError, match="do not flatten a 70×2×2 map"):
        pack_linear_weight_nhwc(weights, c, 2, 2)
