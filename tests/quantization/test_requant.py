"""Integer-only requantization (Jacob et al. 2018) against float arithmetic and PyTorch's int8 Linear."""
import pytest
import torch
from torch import nn

from companion.quantization import int8
from companion.quantization.requant import (fixed_point_multiplier, from_quantized_linear, input_qparams,
                                            integer_linear, rounding_shift)


@pytest.mark.parametrize("m", [0.5, 0.75, 1e-3, 3.1e-5, 0.999999999])
def test_fixed_point_multiplier_is_int32_and_accurate(m):
    m0, n = fixed_point_multiplier(m)
    assert (1 << 30) <= m0 < (1 << 31)
    assert abs(m0 / 2 ** n - m) <= m * 2 ** -30


def test_fixed_point_multiplier_range():
    with pytest.raises(ValueError, match=r"multiplier must be in \(0, 1\)"):
        fixed_point_multiplier(1.5)


def test_rounding_shift_by_hand():
    acc = torch.tensor([5, -5, 6, 7, -7])
    # times 1/4 (M0 = 2^30, n = 32): 1.25 -> 1, -1.25 -> -1, 1.5 -> 2 (ties away from zero), 1.75 -> 2, -1.75 -> -2
    out = rounding_shift(acc, torch.tensor(1 << 30), torch.tensor(32))
    assert out.tolist() == [1, -1, 2, 2, -2]


def test_integer_linear_matches_float_requantization():
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(20, 50, generator=g) * 0.1, torch.randn(20, generator=g) * 0.1
    layer = integer_linear(w, b, x_scale=0.02, x_zero_point=10, y_scale=0.05, y_zero_point=128)
    q_x = torch.randint(0, 256, (64, 50), generator=g)
    exact, approx = layer(q_x), layer.float_requantize(q_x)
    assert (exact - approx).abs().max() <= 1  # M0 has 31 bits: at most a tie rounds the other way
    assert (exact == approx).float().mean() > 0.99
    # and the integers decode to the float layer on the dequantized inputs, within one output step
    x_hat = 0.02 * (q_x - 10).float()
    ref = x_hat @ (layer.weight * (w.abs().amax(1) / 127.5)[:, None]).T.float() + b
    y = 0.05 * (exact - 128).float()
    inside = (ref > 0.05 * (0 - 128)) & (ref < 0.05 * (255 - 128))
    assert ((y - ref).abs()[inside]).max() <= 0.05 * 0.5 + 1e-3


def test_integer_linear_agrees_with_pytorch_int8_linear():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    x = torch.randn(128, 64)
    q = int8.quantize_fx(model, [x], "x86")
    scale, zp = input_qparams(q.model)
    with int8.quantized_engine("x86"):
        q_x = torch.quantize_per_tensor(x, scale, zp, torch.quint8)
        first = dict(q.model.named_modules())["0"]  # LinearReLU
        theirs = first(q_x).int_repr().long()
    ours = from_quantized_linear(first, scale, zp)
    mine = torch.clamp(ours(q_x.int_repr()), min=ours.y_zero_point)  # the fused ReLU clamps at the zero point
    assert (mine - theirs).abs().max() <= 1  # fbgemm requantizes in float: at most a tie apart
    assert (mine == theirs).float().mean() > 0.99


def test_input_qparams_needs_a_converted_model():
    with pytest.raises(ValueError, match="no input quantization parameters"):
        input_qparams(nn.Linear(2, 2))


def test_input_qparams_reads_the_graph_whatever_the_buffer_names():
    from companion.models import LeNet300  # its first quantize follows a Flatten: buffers named features_scale_0
    q = int8.quantize_fx(LeNet300().eval(), [torch.randn(8, 1, 28, 28)], "x86")
    scale, zp = input_qparams(q.model)
    assert scale == float(q.model.features_scale_0) and zp == int(q.model.features_zero_point_0)
