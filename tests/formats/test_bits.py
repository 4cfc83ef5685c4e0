"""The two bit packers: MSB-first integers into bytes, LSB-first booleans into 64-bit words."""
import numpy as np
import pytest
import torch

from companion.binarization.kernels import pack_pm1, unpack_pm1
from companion.formats.bits import n_words, pack_bits_lsb64, pack_ints_msb, unpack_bits_lsb64, unpack_ints_msb
from companion.formats.relative import encode_relative


def test_pack_bits_hand_case_and_errors():
    assert pack_ints_msb(np.array([1, 2, 3]), 2) == bytes([0b01101100])
    assert unpack_ints_msb(bytes([0b01101100]), 2, 3).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="must be in"):
        pack_ints_msb(np.array([4]), 2)
    with pytest.raises(ValueError, match="index_bits must be an integer in"):
        encode_relative(torch.ones(3), 0)


@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 100, 130])
def test_pack_unpack_round_trip_any_length(n):
    rng = np.random.default_rng(n)
    bits = rng.integers(0, 2, size=(3, 2, n)).astype(bool)
    words = pack_bits_lsb64(bits)
    assert words.dtype == np.uint64 and words.shape == (3, 2, n_words(n))
    np.testing.assert_array_equal(unpack_bits_lsb64(words, n), bits)
    values = np.where(bits, -1.0, 1.0).astype(np.float32)
    np.testing.assert_array_equal(unpack_pm1(pack_pm1(values), n), values)
    if n % 64:  # padding bits stay zero
        assert np.all(words[..., -1] >> np.uint64(n % 64) == 0)


def test_pack_bit_order_by_hand():
    assert pack_bits_lsb64([True, False, True]).tolist() == [5]
    assert pack_pm1(torch.tensor([-1.0, 1.0, -1.0, -1.0])).tolist() == [0b1101]
    words = pack_bits_lsb64([False] * 64 + [True])
    assert words.tolist() == [0, 1]
