"""Blocks: output shapes, params by formula == count_params, MACs by formula == count_macs (exactly), the
depthwise-separable ratio 1/N + 1/9, two 3×3 = 18/25 of a 5×5, and clear errors on bad input."""
from fractions import Fraction

import pytest
import torch

from companion import measure
from companion.architectures import (BLOCKS, ShuffleUnit, block_counts, depthwise_separable, depthwise_separable_counts,
                                     fire, fire_counts, inverted_residual, inverted_residual_counts, make_block,
                                     shuffle_unit_counts, standard_block, standard_counts)


def measured(module, x):
    return measure.count_params(module), measure.count_macs(module, x)


@pytest.mark.parametrize("name", BLOCKS)
@pytest.mark.parametrize("c,h,w", [(64, 14, 14), (32, 9, 7)])
def test_every_block_matches_its_formula_exactly(name, c, h, w):
    torch.manual_seed(0)
    block, x = make_block(name, c), torch.randn(2, c, h, w)
    f = block_counts(name, c, h, w)
    assert tuple(block.eval()(x).shape) == (2, c, h, w)
    params, macs = measured(block, x[:1])
    assert (params, macs) == (f.params, f.macs)


@pytest.mark.parametrize("c_in,c_out,h,w", [(16, 32, 14, 14), (24, 40, 9, 11)])
def test_stride_two_blocks_match_their_formulas(c_in, c_out, h, w):
    x = torch.randn(1, c_in, h, w)
    out = ((h + 1) // 2, (w + 1) // 2)
    cases = [(standard_block(c_in, c_out, 2), standard_counts(c_in, c_out, h, w, 2)),
             (depthwise_separable(c_in, c_out, 2), depthwise_separable_counts(c_in, c_out, h, w, 2)),
             (inverted_residual(c_in, c_out, 2, 4), inverted_residual_counts(c_in, c_out, h, w, 2, 4)),
             (inverted_residual(c_in, c_out, 2, 1), inverted_residual_counts(c_in, c_out, h, w, 2, 1)),
             (ShuffleUnit(c_in, c_out + c_in, 4, 2, mid=8), shuffle_unit_counts(c_in, c_out + c_in, h, w, 4, 2, mid=8))]
    for block, f in cases:
        y = block.eval()(x)
        assert tuple(y.shape[2:]) == out
        assert measured(block, x) == (f.params, f.macs), type(block)


def test_fire_with_unequal_expands():
    block, x = fire(24, 6, 10, 14), torch.randn(1, 24, 11, 13)
    f = fire_counts(24, 6, 10, 14, 11, 13)
    assert block(x).shape[1] == 24 and measured(block, x) == (f.params, f.macs)


@pytest.mark.parametrize("c", [16, 64, 256])
def test_depthwise_separable_mac_ratio_is_one_over_n_plus_one_ninth(c):
    ds, std = depthwise_separable_counts(c, c, 14, 14), standard_counts(c, c, 14, 14)
    assert Fraction(ds.macs, std.macs) == Fraction(1, c) + Fraction(1, 9)


def test_two_3x3_cost_18_25_of_a_5x5():
    c = 48
    assert Fraction(block_counts("two 3×3", c, 10, 10).macs, block_counts("5×5", c, 10, 10).macs) == Fraction(18, 25)


def test_width_and_resolution_multipliers_scale_pointwise_macs_by_alpha2_and_rho2():
    full = depthwise_separable_counts(64, 64, 28, 28).macs
    half_width = depthwise_separable_counts(32, 32, 28, 28).macs   # alpha = 0.5
    half_res = depthwise_separable_counts(64, 64, 14, 14).macs     # rho = 0.5
    assert Fraction(half_res, full) == Fraction(1, 4)
    # depthwise part scales by alpha, pointwise by alpha²: 28²·(9·32 + 32²) against 28²·(9·64 + 64²)
    assert Fraction(half_width, full) == Fraction(9 * 32 + 32 * 32, 9 * 64 + 64 * 64)
    assert Fraction(1, 4) < Fraction(half_width, full) < Fraction(1, 2)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        ShuffleUnit(64, 64, groups=3)
    with pytest.raises(ValueError, match="must equal c_in"):
        ShuffleUnit(32, 64, groups=4, stride=1)
    with pytest.raises(ValueError, match="must exceed c_in"):
        ShuffleUnit(64, 64, groups=4, stride=2)
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        standard_block(8, 8, stride=3)
    with pytest.raises(ValueError, match="unknown block"):
        make_block("octave", 64)
    with pytest.raises(ValueError, match="divisible by 8"):
        make_block("Fire", 12)
    with pytest.raises(ValueError, match="positive integer"):
        depthwise_separable_counts(0, 8, 4, 4)
