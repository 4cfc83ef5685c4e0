"""Fake-quantized models: activation and weight quantizers, BN folding, calibration."""
import pytest
import torch
from torch import nn

from companion.models import ResNetSmall
from companion.quantization import (ActFakeQuant, QuantConfig, calibrate_, fake_quantize_model, fold_batchnorm,
                                    grid_values, layer_input)


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


def test_fake_quantized_model_at_8_bits_is_close_and_trains():
    torch.manual_seed(0)
    model = ResNetSmall(width=8).eval()
    x = torch.randn(64, 1, 28, 28)
    q = fake_quantize_model(model, QuantConfig(bits=8, per_channel=True), QuantConfig(bits=8, symmetric=False))
    calibrate_(q, [(x, torch.zeros(64))])
    ref = model(x)
    assert (q(x) - ref).abs().max() < 0.05 * ref.abs().max()
    q2 = fake_quantize_model(model, QuantConfig(bits=2), QuantConfig(bits=2, symmetric=False))
    calibrate_(q2, [(x, torch.zeros(64))])
    assert (q2(x) - ref).abs().mean() > (q(x) - ref).abs().mean()
    q(x).sum().backward()  # QAT: gradients reach the float weights through the STE
    assert q.fc.parametrizations.weight.original.grad.abs().sum() > 0


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
