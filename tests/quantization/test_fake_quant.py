"""Fake-quantized models: activation and weight quantizers, BN folding, calibration."""
import pytest
import torch
from torch import nn

from companion.models import ResNetSmall
from companion.quantization import (ActFakeQuant, QuantConfig, calibrate_, fake_quantize_model, fake_quantize_tensor,
                                    fold_batchnorm, grid_values, layer_input)


@pytest.fixture
def x():
    return torch.randn(16, 50, generator=torch.Generator().manual_seed(0)) * 3 + 0.5


def test_activation_quantizer_is_per_tensor():
    with pytest.raises(ValueError, match="activations are quantized per tensor"):
        ActFakeQuant(QuantConfig(per_channel=True))


# ---------------------------------------------------------------- model wrappers
def test_fold_batchnorm_keeps_outputs():
    torch.manual_seed(0)
    model = ResNetSmall(width=8)
    model.train()
    model(torch.randn(32, 1, 28, 28))  # give BN non-trivial running statistics
    model.eval()
    folded = fold_batchnorm(model)
    x = torch.randn(4, 1, 28, 28)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x), model(x), atol=1e-5)


@pytest.mark.parametrize("bits", [4, 8])
def test_fake_quantized_model_error_is_below_one_step_of_its_grid(bits):
    # Each quantizer rounds to a grid of 2**bits levels over its range, so the error of the logits scales as
    # 2**-bits; measured, it stays below one step of a ``bits``-bit grid laid over the logits' range
    # (0.34 and 0.50 of it at 4 and 8 bits), whereas the old bound (5 % of max |logit|) was 16x looser at 8 bits.
    torch.manual_seed(0)
    model = ResNetSmall(width=8).eval()
    x = torch.randn(64, 1, 28, 28)
    q = fake_quantize_model(model, QuantConfig(bits=bits, per_channel=True), QuantConfig(bits=bits, symmetric=False))
    calibrate_(q, [(x, torch.zeros(64))])
    ref = model(x)
    step = (ref.max() - ref.min()) / 2 ** bits
    assert (q(x) - ref).abs().max() <= step
    q(x).sum().backward()  # QAT: gradients reach the float weights through the STE
    assert q.fc.parametrizations.weight.original.grad.abs().sum() > 0


def test_fake_quantized_linear_is_exactly_the_float_layer_on_quantized_operands():
    torch.manual_seed(0)
    layer = nn.Linear(20, 5)
    x = torch.randn(32, 20)
    wcfg, acfg = QuantConfig(bits=8, per_channel=True), QuantConfig(bits=8, symmetric=False)
    q = fake_quantize_model(nn.Sequential(layer), wcfg, acfg, fold_bn=False)
    calibrate_(q, [x])
    aq = q[0].act_quant
    x_hat = torch.fake_quantize_per_tensor_affine(x, aq.scale.item(), int(aq.zero_point), 0, 255)
    expected = nn.functional.linear(x_hat, fake_quantize_tensor(layer.weight, wcfg), layer.bias)
    assert torch.allclose(q(x), expected, atol=1e-6)


def test_layer_input_and_grid_values():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(5, 4)
    seen = layer_input(model, "2", x)
    assert torch.equal(seen, torch.relu(model[0](x)))
    grid = grid_values(torch.tensor([0.0, 1.5]), QuantConfig(bits=2, symmetric=False))
    assert torch.allclose(grid, torch.tensor([0.0, 0.5, 1.0, 1.5]))


def test_weight_grid_follows_the_weight_until_frozen():
    model = nn.Sequential(nn.Linear(6, 4))
    q = fake_quantize_model(model, QuantConfig(bits=4), fold_bn=False)
    wfq, original = q[0].parametrizations.weight[0], q[0].parametrizations.weight.original
    q[0].weight  # noqa: B018  (computes the grid)
    before = wfq._qparams[0].clone()
    with torch.no_grad():
        original.mul_(2)
    q[0].weight  # noqa: B018
    assert torch.allclose(wfq._qparams[0], 2 * before)  # recalibrated on the changed weight
    calibrate_(q, [torch.randn(3, 6)])
    frozen = wfq._qparams[0].clone()
    with torch.no_grad():
        original.mul_(2)
    assert torch.equal(wfq._qparams[0], frozen) and len(torch.unique(q[0].weight)) <= 16


def test_recalibration_forgets_the_old_range():
    q = ActFakeQuant(QuantConfig(bits=8, symmetric=False))
    q(torch.tensor([-5.0, 5.0]))
    q.freeze()
    q.observe()
    q(torch.tensor([0.0, 1.0]))
    q.freeze()
    assert q.scale.item() == pytest.approx(1 / 255)
