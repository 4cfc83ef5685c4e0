"""Relative indices with filler zeros (Deep Compression's sparse format)."""
import pytest
import torch

from companion.formats.bits import pack_ints_msb, unpack_ints_msb
from companion.formats.relative import decode_relative, encode_relative


# ---------------------------------------------------------------- sparse storage
def test_relative_indices_hand_case_with_fillers():
    flat = torch.zeros(24)
    flat[2], flat[20] = 1.5, -2.0
    rel, values = encode_relative(flat, 3)  # gaps: 2, then 17 zeros > 7 → two fillers of 8 positions
    assert rel.tolist() == [2, 7, 7, 1]
    assert values.tolist() == [1.5, 0.0, 0.0, -2.0]
    assert torch.equal(decode_relative(rel, values, 24), flat)


@pytest.mark.parametrize("bits", [1, 3, 5, 8, 12])
def test_relative_round_trip_random(bits):
    g = torch.Generator().manual_seed(bits)
    flat = torch.randn(5000, generator=g) * (torch.rand(5000, generator=g) < 0.05)
    rel, values = encode_relative(flat, bits)
    assert rel.max() < 2 ** bits
    assert torch.equal(decode_relative(unpack_ints_msb(pack_ints_msb(rel, bits), bits, len(rel)), values, 5000), flat)
