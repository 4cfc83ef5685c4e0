"""Binarizers and straight-through estimators."""
import pytest
import torch

from companion.binarization import (BinarizeConfig, SignSTE, filter_scale, hard_sigmoid, input_scale, sign, ste_sign,
                                    stochastic_sign, ternarize, ternary_threshold)


# ---------------------------------------------------------------- estimators and quantizers
def test_sign_ste_forward_and_hardtanh_gradient():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    y = ste_sign(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]
    g = torch.arange(1.0, 8.0)
    y.backward(g)
    assert x.grad.tolist() == [0, 2, 3, 4, 5, 6, 0]  # grad · 1_{|x| <= 1}
    assert SignSTE.apply(torch.tensor([0.0])).item() == 1.0


def test_stochastic_sign_probability_and_straight_through_gradient():
    assert hard_sigmoid(torch.tensor([-2.0, -1.0, 0.0, 0.5, 3.0])).tolist() == [0, 0, 0.5, 0.75, 1]
    w = torch.full((40000,), 0.5, requires_grad=True)
    wb = stochastic_sign(w, torch.Generator().manual_seed(0))
    assert set(wb.unique().tolist()) == {-1.0, 1.0}
    assert abs((wb > 0).float().mean().item() - 0.75) < 0.01
    wb.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_ternary_threshold_on_hand_made_tensor():
    w = torch.tensor([0.1, -0.2, 0.9, -1.3, 0.05, 0.6])
    delta, alpha = ternary_threshold(w, 0.7)
    assert delta.item() == pytest.approx(0.7 * 3.15 / 6)
    assert alpha.item() == pytest.approx((0.9 + 1.3 + 0.6) / 3)
    t, a = ternarize(w)
    assert t.tolist() == [0, 0, 1, -1, 0, 1]
    assert torch.equal(a, alpha)
    latent = torch.randn(1000, requires_grad=True)  # forward values exactly in {-1, 0, 1}; identity gradient
    t, _ = ternarize(latent)
    assert set(t.unique().tolist()) <= {-1.0, 0.0, 1.0}
    t.sum().backward()
    assert torch.equal(latent.grad, torch.ones(1000))


def test_xnor_scales_by_hand():
    w = torch.tensor([[1.0, -3.0], [0.5, 0.5]])
    assert filter_scale(w).flatten().tolist() == [2.0, 0.5]
    x = torch.tensor([[1.0, -3.0, 2.0], [0.0, 0.5, -0.5]])
    assert input_scale(x).flatten().tolist() == [2.0, pytest.approx(1 / 3)]
    k = input_scale(torch.ones(1, 4, 5, 5), 3, 1, 1)  # box filter with zero padding
    assert k.shape == (1, 1, 5, 5) and k[0, 0, 2, 2] == 1 and k[0, 0, 0, 0].item() == pytest.approx(4 / 9)


def test_config_validation():
    with pytest.raises(ValueError, match="method must be one of"):
        BinarizeConfig(method="xor")
    with pytest.raises(ValueError, match="stochastic binarization is BinaryConnect's"):
        BinarizeConfig(method="bnn", stochastic=True)
    with pytest.raises(ValueError, match=r"ternary_threshold must be in \(0, 1.5\), got 2.0"):
        BinarizeConfig(method="ternary", ternary_threshold=2.0)
    assert BinarizeConfig("binaryconnect", stochastic=True).weight_mode == "stochastic"


def test_stochastic_binaryconnect_is_evaluated_with_the_real_valued_weights():
    """Issue 11, bug 8: BinaryConnect tests its stochastic variant with the real-valued weights (§2.6)."""
    from companion.binarization import BinaryLinear
    import torch.nn.functional as F

    torch.manual_seed(0)
    layer = BinaryLinear(10, 4, BinarizeConfig("binaryconnect", stochastic=True).weight_mode, "real").eval()
    x = torch.randn(3, 10)
    assert torch.equal(layer(x), F.linear(x, layer.weight)), "test time: the real-valued latent weights"
    layer.train()
    layer.generator = torch.Generator().manual_seed(1)
    w_used, _ = layer.unit_weight()
    assert set(w_used.unique().tolist()) == {-1.0, 1.0}, "training: sampled ±1 weights"
    signed = BinaryLinear(10, 4, BinarizeConfig("binaryconnect", stochastic=True,
                                                stochastic_inference="sign").weight_mode, "real").eval()
    assert torch.equal(signed(x), F.linear(x, sign(signed.weight)))
    with pytest.raises(ValueError, match="stochastic_inference must be 'real'"):
        BinarizeConfig("binaryconnect", stochastic=True, stochastic_inference="mean")
