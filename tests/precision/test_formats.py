"""Number formats: round-to-nearest and stochastic rounding against hand-computed cases, torch's and ml_dtypes'
casts, unbiasedness and seeding of SR, and clear errors on bad input."""
import math

import ml_dtypes
import numpy as np
import pytest
import torch

from companion.precision import (FORMATS, FixedPoint, MiniFloat, Scaled, bf16_stochastic_round, dynamic_fixed_point,
                                 fixed_point_quantize, get_format, round_stochastic, scale_exponent, static_fixed_point)
from companion.precision.formats import fixed_point_mantissas, minifloat_lsb, minifloat_quantize


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- round to nearest: hand-computed cases
def test_fixed_point_ties_to_even_and_saturation():
    q = FixedPoint(8, 0).quantize(torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 126.6, 200.0, -200.0]))
    assert q.tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 0.0, 127.0, 127.0, -128.0]


def test_fixed_point_grid_and_range():
    f = FixedPoint(8, 6)  # LSB 1/64, range [-2, 2 - 1/64]
    assert f.lsb == 1 / 64 and f.max_value == 127 / 64 and f.name == "fixed<8,6>" and f.bits == 8
    q = f.quantize(torch.tensor([0.01, 0.0078125, 0.0234375, 1.99, 5.0, -5.0]))
    assert q.tolist() == [1 / 64, 0.0, 2 / 64, 127 / 64, 127 / 64, -2.0]  # 0.5 LSB → 0 (even), 1.5 LSB → 2 LSB


def test_minifloat_ties_subnormals_and_saturation_e4m3fn():
    f = FORMATS["e4m3fn"]
    assert (f.max_value, f.min_subnormal) == (448.0, 2.0 ** -9)
    x = torch.tensor([1.0625, 1.1875, 2.0 ** -10, 3 * 2.0 ** -11, 1.5 * 2.0 ** -9, 1000.0, -1000.0, 0.0])
    # ties to the even mantissa (1.0 and 1.25), half the smallest subnormal → 0, 1.5 subnormals → 2 (even)
    expected = [1.0, 1.25, 0.0, 2.0 ** -9, 2.0 ** -8, 448.0, -448.0, 0.0]
    for q in (f.quantize(x), minifloat_quantize(x, f.man_bits, f.emin, f.max_value),
              minifloat_quantize(x.double(), f.man_bits, f.emin, f.max_value)):
        assert q.tolist() == expected


def test_fp4_grid_is_the_ocp_one():
    f = FORMATS["e2m1"]
    grid = f.quantize(torch.linspace(0, 7, 701)).unique().tolist()
    assert grid == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


@pytest.mark.parametrize("name", ["fp16", "bf16", "e5m2", "e4m3fn"])
def test_round_to_nearest_matches_torch_casts(name):
    f = FORMATS[name]
    dtype = getattr(torch, f.torch_dtype)
    g = gen(1)
    x = torch.randn(100_000, generator=g) * torch.exp2(torch.randint(-40, 12, (100_000,), generator=g).float())
    x = x.clamp(-f.max_value, f.max_value)
    generic = minifloat_quantize(x, f.man_bits, f.emin, f.max_value)
    assert torch.equal(generic, x.to(dtype).float())
    assert torch.equal(f.quantize(x), x.to(dtype).float())


@pytest.mark.parametrize("name", ["e5m2", "e4m3fn"])
def test_fp8_every_value_and_every_midpoint(name):
    f = FORMATS[name]
    dtype = getattr(torch, f.torch_dtype)
    values = torch.arange(256, dtype=torch.uint8).view(dtype).float()
    values = values[torch.isfinite(values)].unique()
    mids = (values[1:] + values[:-1]) / 2  # exact ties: RN must pick the even neighbour as torch does
    for x in (values, mids):
        assert torch.equal(minifloat_quantize(x, f.man_bits, f.emin, f.max_value), x.to(dtype).float())


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f.numpy_dtype])
def test_round_to_nearest_matches_ml_dtypes(name):
    f = FORMATS[name]
    np_dtype = np.dtype(getattr(ml_dtypes, f.numpy_dtype, f.numpy_dtype))
    g = gen(2)
    x = torch.randn(50_000, generator=g) * torch.exp2(torch.randint(-20, 6, (50_000,), generator=g).float())
    x = x.clamp(-f.max_value, f.max_value)
    ref = torch.from_numpy(x.numpy().astype(np_dtype).astype(np.float32))
    assert torch.equal(f.quantize(x), ref)
    assert f.max_value == float(ml_dtypes.finfo(np_dtype).max)
    assert f.min_subnormal == float(ml_dtypes.finfo(np_dtype).smallest_subnormal)


def test_lsb_of():
    assert FORMATS["e4m3fn"].lsb_of(torch.tensor([1.0, 1.9, 2.0, 0.0, 2.0 ** -9])).tolist() == [
        0.125, 0.125, 0.25, 2.0 ** -9, 2.0 ** -9]
    bf = FORMATS["bf16"]
    tiny = torch.tensor([1.0, 3e-39, 0.0])  # a float32 subnormal: bf16's subnormal LSB 2^-133
    assert bf.lsb_of(tiny).tolist() == [2.0 ** -7, 2.0 ** -133, 2.0 ** -133]
    assert torch.equal(minifloat_lsb(tiny, 7, -126).double(), minifloat_lsb(tiny.double(), 7, -126))
    assert FixedPoint(12, 10).lsb_of(torch.zeros(3)).tolist() == [2.0 ** -10] * 3


# ---------------------------------------------------------------- stochastic rounding
def sr_mean_error(fmt, x: float, n: int, seed=0) -> float:
    q = fmt.quantize(torch.full((n,), x), "stochastic", gen(seed))
    return abs(q.double().mean().item() - x)


@pytest.mark.parametrize("name", ["fixed<8,4>", "dfp<6>", "e4m3fn", "e2m1", "bf16", "fp16"])
def test_stochastic_rounding_is_unbiased_and_the_error_shrinks(name):
    fmt = get_format(name)
    x = 0.3 if name != "bf16" else 1.0 + 0.3 * 2 ** -7
    lsb = fmt.lsb_of(torch.tensor([x])).item()
    for n in (1_000, 100_000, 1_000_000):
        sigma = lsb * 0.5 / math.sqrt(n)  # the standard deviation of the mean is at most LSB/(2√n)
        assert sr_mean_error(fmt, x, n) < 5 * sigma, (name, n)
    assert sr_mean_error(fmt, x, 1_000_000) < sr_mean_error(fmt, x, 100, seed=3) + 5 * lsb * 0.5 / 1000


def test_stochastic_rounding_picks_only_the_two_neighbours_with_the_right_odds():
    q = fixed_point_quantize(torch.full((100_000,), 2.25), 8, 0, "stochastic", gen())
    assert set(q.unique().tolist()) == {2.0, 3.0}
    assert abs((q == 3.0).float().mean().item() - 0.25) < 0.01
    sub = FORMATS["e4m3fn"].quantize(torch.full((100_000,), 0.25 * 2.0 ** -9), "stochastic", gen())
    assert set(sub.unique().tolist()) == {0.0, 2.0 ** -9} and abs((sub > 0).float().mean().item() - 0.25) < 0.01


def test_stochastic_rounding_is_seeded():
    x = torch.randn(1000, generator=gen(5))
    for fmt in (get_format("fixed<8,6>"), FORMATS["e4m3fn"], FORMATS["bf16"]):
        a, b = fmt.quantize(x, "stochastic", gen(7)), fmt.quantize(x, "stochastic", gen(7))
        assert torch.equal(a, b)
        assert not torch.equal(a, fmt.quantize(x, "stochastic", gen(8)))


def test_stochastic_rounding_leaves_the_global_rng_alone():
    before = torch.random.get_rng_state()
    FORMATS["e4m3fn"].quantize(torch.randn(10, generator=gen()), "stochastic", gen())
    assert torch.equal(before, torch.random.get_rng_state())


def test_values_on_the_grid_are_kept_by_both_roundings():
    f = get_format("fixed<8,6>")
    grid = torch.arange(-128, 128) / 64
    assert torch.equal(f.quantize(grid, "stochastic", gen()), grid) and torch.equal(f.quantize(grid), grid)


def test_sr_saturates():
    q = FixedPoint(8, 0).quantize(torch.tensor([127.5, 500.0, -128.7]), "stochastic", gen())
    assert q.tolist() == [127.0, 127.0, -128.0]
    assert FORMATS["e4m3fn"].quantize(torch.tensor([447.9, 1e6]), "stochastic", gen()).tolist() == [448.0, 448.0]


def test_bf16_bit_trick_agrees_with_the_generic_quantizer_in_distribution():
    x = torch.full((200_000,), 1.0 + 0.3 * 2 ** -7)
    fast = bf16_stochastic_round(x, gen())
    generic = minifloat_quantize(x, 7, -126, FORMATS["bf16"].max_value, "stochastic", gen())
    for q in (fast, generic):
        assert torch.equal(q.to(torch.bfloat16).float(), q)  # exactly bfloat16
        assert abs((q > 1).float().mean().item() - 0.3) < 0.01
    neg = bf16_stochastic_round(-x, gen())
    assert torch.equal(neg.unique(), torch.tensor([-1.0 - 2 ** -7, -1.0]))


# ---------------------------------------------------------------- scaled formats: dynamic and static fixed point
def test_scale_exponent_fits_the_largest_value():
    fp = FixedPoint(8, 7)  # max 127/128
    assert scale_exponent(torch.tensor([0.9]), fp.max_value) == 0
    assert scale_exponent(torch.tensor([1.0]), fp.max_value) == 1
    assert scale_exponent(torch.tensor([0.3, -0.1]), fp.max_value) == -1
    assert scale_exponent(torch.zeros(4), fp.max_value) == 0


def test_dynamic_fixed_point_uses_each_tensors_range_and_static_one_for_all():
    small, big = torch.tensor([0.01, -0.02]), torch.tensor([3.0, 0.5])
    dfp = dynamic_fixed_point(8)
    assert dfp.name == "dfp<8>" and dfp.bits == 8
    assert dfp.exponent(small) == -5 and dfp.exponent(big) == 2
    static = static_fixed_point([small, big], 8)
    assert static.shared_exponent == 2 and static.name == "fixed<8,5>"
    assert static.quantize(small).tolist() == [0.0, -0.03125]  # LSB 2^-5 erases the small tensor
    assert torch.allclose(dfp.quantize(small), small, atol=2.0 ** -13)


def test_fixed_point_mantissas():
    fmt = dynamic_fixed_point(8)
    x = fmt.quantize(torch.tensor([0.3, -0.12, 0.0]))
    m, e = fixed_point_mantissas(x, fmt)
    assert m.dtype == torch.int64 and torch.equal(m.double() * 2.0 ** e, x.double()) and m.abs().max() <= 127
    with pytest.raises(ValueError, match="not a fixed-point"):
        fixed_point_mantissas(x, FORMATS["bf16"])


def test_scaled_minifloat():
    f = get_format("e2m1-scaled")
    assert isinstance(f, Scaled) and f.name == "e2m1-scaled"
    x = torch.tensor([0.012, -0.003, 0.0])
    q = f.quantize(x)
    assert q.abs().max() > 0 and q[0].item() == pytest.approx(0.012, rel=0.35)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("wl, fl, match", [(1, 0, "word length"), (33, 0, "word length"), (8, 9, "fractional length"),
                                           (8.0, 2, "word length"), (8, 2.5, "fractional length")])
def test_bad_fixed_point(wl, fl, match):
    with pytest.raises(ValueError, match=match):
        FixedPoint(wl, fl)


def test_bad_formats_and_roundings():
    with pytest.raises(ValueError, match="unknown format 'fp7'.*fp16"):
        get_format("fp7")
    with pytest.raises(ValueError, match="word length"):
        get_format("fixed<1,0>")
    with pytest.raises(ValueError, match="exp_bits"):
        MiniFloat(0, 3)
    with pytest.raises(ValueError, match="special"):
        MiniFloat(4, 3, "nan")
    with pytest.raises(ValueError, match="inner"):
        Scaled("fp16")
    with pytest.raises(ValueError, match="rounding must be one of"):
        FORMATS["fp16"].quantize(torch.ones(2), "up")
    with pytest.raises(ValueError, match="torch.Generator"):
        FixedPoint(8, 4).quantize(torch.ones(2), "stochastic")


def test_round_stochastic_on_integers_is_identity():
    x = torch.arange(-5, 6).float()
    assert torch.equal(round_stochastic(x, gen()), x)
