"""Affine quantizers and calibration, against torch's own quantization functions."""
import pytest
import torch

from companion.quantization import (QuantConfig, affine_qparams, calibrate_range, fake_quantize, fake_quantize_tensor,
                                    qparams, quantization_mse, quantize)


@pytest.fixture
def x():
    return torch.randn(16, 50, generator=torch.Generator().manual_seed(0)) * 3 + 0.5


# ---------------------------------------------------------------- qparams by hand
def test_symmetric_qparams_by_hand():
    scale, zp = affine_qparams(torch.tensor(-1.0), torch.tensor(2.54), bits=8, symmetric=True)
    assert scale.item() == pytest.approx(2.54 / 127.5) and zp.item() == 0


def test_asymmetric_qparams_by_hand():
    # [-1, 3] on uint8: scale = 4 / 255, zero_point = 0 - round(-1 / scale) = round(63.75) = 64
    scale, zp = affine_qparams(torch.tensor(-1.0), torch.tensor(3.0), bits=8, symmetric=False)
    assert scale.item() == pytest.approx(4 / 255) and zp.item() == 64
    # 2 bits on [0, 1.5]: 4 levels 0, 0.5, 1, 1.5 -> scale 0.5, zero point 0
    scale, zp = affine_qparams(torch.tensor(0.0), torch.tensor(1.5), bits=2, symmetric=False)
    assert scale.item() == pytest.approx(0.5) and zp.item() == 0


def test_range_is_widened_to_contain_zero():
    scale, zp = affine_qparams(torch.tensor(2.0), torch.tensor(4.0), bits=8, symmetric=False)
    assert scale.item() == pytest.approx(4 / 255) and zp.item() == 0  # [0, 4], not [2, 4]


def test_integer_ranges():
    assert (QuantConfig(bits=8).qmin, QuantConfig(bits=8).qmax) == (-128, 127)
    assert (QuantConfig(bits=4, symmetric=False).qmin, QuantConfig(bits=4, symmetric=False).qmax) == (0, 15)
    assert (QuantConfig(bits=2).qmin, QuantConfig(bits=2).qmax) == (-2, 1)


@pytest.mark.parametrize("symmetric", [True, False])
def test_qparams_match_torch_minmax_observer(x, symmetric):
    from torch.ao.quantization.observer import MinMaxObserver
    obs = MinMaxObserver(dtype=torch.qint8 if symmetric else torch.quint8,
                         qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
    obs(x)
    ref_scale, ref_zp = obs.calculate_qparams()
    scale, zp = qparams(x, QuantConfig(bits=8, symmetric=symmetric))
    assert scale.item() == pytest.approx(ref_scale.item(), rel=1e-6) and zp.item() == ref_zp.item()


# ---------------------------------------------------------------- fake quantization against torch
@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_fake_quantize_per_tensor_matches_torch(x, bits, symmetric):
    cfg = QuantConfig(bits=bits, symmetric=symmetric)
    scale, zp = qparams(x, cfg)
    ref = torch.fake_quantize_per_tensor_affine(x, scale.item(), int(zp), cfg.qmin, cfg.qmax)
    assert torch.equal(fake_quantize_tensor(x, cfg), ref)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_fake_quantize_per_channel_matches_torch(x, bits, symmetric):
    cfg = QuantConfig(bits=bits, symmetric=symmetric, per_channel=True)
    scale, zp = qparams(x, cfg)
    assert scale.shape == (16,)
    ref = torch.fake_quantize_per_channel_affine(x, scale, zp, 0, cfg.qmin, cfg.qmax)
    assert torch.equal(fake_quantize_tensor(x, cfg), ref)


def test_ste_gradient_matches_torch(x):
    cfg = QuantConfig(bits=4, symmetric=False)
    scale, zp = qparams(x, cfg)
    scale = scale * 0.5  # clip part of the range so that some gradients are zero
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    fake_quantize(a, scale, zp, cfg.qmin, cfg.qmax).sum().backward()
    torch.fake_quantize_per_tensor_affine(b, scale.item(), int(zp), cfg.qmin, cfg.qmax).sum().backward()
    assert torch.equal(a.grad, b.grad)
    assert 0 < a.grad.sum() < a.numel()  # some pass through, some are clipped


def test_quantize_gives_integers_in_range(x):
    cfg = QuantConfig(bits=3, symmetric=False)
    scale, zp = qparams(x, cfg)
    q = quantize(x, scale, zp, cfg.qmin, cfg.qmax)
    assert q.dtype == torch.int64 and q.min() >= 0 and q.max() <= 7
    assert torch.allclose((q - zp) * scale, fake_quantize_tensor(x, cfg))


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
@pytest.mark.parametrize("symmetric", [True, False])
def test_quantize_equals_torch_quantize_per_tensor_exactly(x, symmetric):
    cfg = QuantConfig(bits=8, symmetric=symmetric)
    scale, zp = qparams(x, cfg)
    ref = torch.quantize_per_tensor(x, scale.item(), int(zp), torch.qint8 if symmetric else torch.quint8)
    assert torch.equal(quantize(x, scale, zp, cfg.qmin, cfg.qmax), ref.int_repr().long())


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_quantize_per_channel_equals_torch_exactly(x):
    cfg = QuantConfig(bits=8, per_channel=True)
    scale, zp = qparams(x, cfg)
    ref = torch.quantize_per_channel(x, scale.double(), zp.long(), 0, torch.qint8)
    assert torch.equal(quantize(x, scale, zp, cfg.qmin, cfg.qmax, axis=0), ref.int_repr().long())


@pytest.mark.parametrize("symmetric", [True, False])
def test_sixteen_bits_match_torch(x, symmetric):
    cfg = QuantConfig(bits=16, symmetric=symmetric)
    assert (cfg.qmin, cfg.qmax) == ((-32768, 32767) if symmetric else (0, 65535))
    scale, zp = qparams(x, cfg)
    ref = torch.fake_quantize_per_tensor_affine(x, scale.item(), int(zp), cfg.qmin, cfg.qmax)
    out = fake_quantize_tensor(x, cfg)
    assert torch.equal(out, ref) and (out - x).abs().max() <= scale.item() / 2 * 1.001  # half a step (float32 ulps)


@pytest.mark.parametrize("symmetric", [True, False])
def test_per_channel_along_axis_1_matches_torch(x, symmetric):
    cfg = QuantConfig(bits=4, symmetric=symmetric, per_channel=True, axis=1)
    scale, zp = qparams(x, cfg)
    assert scale.shape == (50,)
    ref = torch.fake_quantize_per_channel_affine(x, scale, zp, 1, cfg.qmin, cfg.qmax)
    assert torch.equal(fake_quantize_tensor(x, cfg), ref)


@pytest.mark.parametrize("symmetric", [True, False])
def test_zero_tensor_stays_zero(symmetric):
    out = fake_quantize_tensor(torch.zeros(3, 4), QuantConfig(bits=8, symmetric=symmetric))
    assert torch.equal(out, torch.zeros(3, 4))  # the scale is clamped to eps: no 0/0


@pytest.mark.parametrize("c", [0.7, -2.5])
def test_constant_tensor(c):
    x = torch.full((5, 5), c)
    # asymmetric: the range [min(c, 0), max(c, 0)] has c at an end point, which is a level: exact
    assert torch.allclose(fake_quantize_tensor(x, QuantConfig(bits=8, symmetric=False)), x, rtol=1e-6)
    # symmetric: scale = |c| / 127.5 puts c at 127.5 steps; +c clamps to 127, -c rounds to -128 (exact)
    scale = abs(c) / 127.5
    out = fake_quantize_tensor(x, QuantConfig(bits=8, symmetric=True))
    expected = 127 * scale if c > 0 else -128 * scale
    assert torch.allclose(out, torch.full((5, 5), expected), rtol=1e-6)


# ---------------------------------------------------------------- calibration
def test_calibration_ranges():
    x = torch.cat([torch.linspace(-1, 1, 10001), torch.tensor([50.0])])
    lo, hi = calibrate_range(x, QuantConfig(calibration="minmax"))
    assert (lo.item(), hi.item()) == (-1.0, 50.0)
    lo, hi = calibrate_range(x, QuantConfig(calibration="percentile", percentile=99.0))
    assert -1 < lo.item() < -0.97 and 0.97 < hi.item() < 1.0
    lo, hi = calibrate_range(x, QuantConfig(bits=4, calibration="mse"))
    assert hi.item() < 50.0  # the outlier is clipped


def test_mse_calibration_is_never_worse_than_minmax():
    w = torch.randn(5000, generator=torch.Generator().manual_seed(1))
    w[0] = 12.0
    for bits in (2, 4, 8):
        mse = quantization_mse(w, QuantConfig(bits=bits, calibration="mse"))
        assert mse <= quantization_mse(w, QuantConfig(bits=bits, calibration="minmax")) + 1e-12


def test_error_falls_with_bits(x):
    errors = [quantization_mse(x, QuantConfig(bits=b)) for b in (2, 4, 8)]
    assert errors[0] > errors[1] > errors[2] > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"bits": 0}, r"bits must be an integer in \[2, 16\], got 0"),
    ({"bits": 17}, r"bits must be an integer in \[2, 16\], got 17"),
    ({"calibration": "entropy"}, r"calibration must be one of .*'entropy'"),
    ({"percentile": 20.0}, r"percentile must be in \(50, 100\]"),
])
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QuantConfig(**kwargs)
