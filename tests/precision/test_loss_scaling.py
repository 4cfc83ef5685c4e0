"""fp16 gradient underflow and overflow, and what loss scaling does to them."""
import pytest
import torch

from companion.models import LeNet5
from companion.precision.loss_scaling import cast_counts, gradients, loss_scale_table, max_safe_scale


def test_cast_counts_by_hand():
    g = torch.tensor([1e-9, 1e-6, 1.0, 1e5, 0.0])  # below 2^-25, subnormal, normal, above 65504, zero (ignored)
    c = cast_counts(g, 1.0)
    assert (c["values"], c["underflow"], c["subnormal"], c["overflow"]) == (4, 1, 1, 1)
    c8 = cast_counts(g, 2.0 ** 8)  # 2.6e-7: a subnormal now, not zero; 1e-6 · 256 is normal
    assert (c8["underflow"], c8["subnormal"], c8["overflow"]) == (0, 1, 1)
    assert cast_counts(torch.tensor([1.0]), 2.0 ** 20)["overflow"] == 1
    assert cast_counts(torch.tensor([0.1, 0.3]), 1.0)["rel_error"] < 2 ** -11
    with pytest.raises(ValueError, match="scale"):
        cast_counts(g, 0)


def test_gradients_of_weights_and_activations_leave_grad_alone():
    torch.manual_seed(0)
    model = LeNet5()
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    grads = gradients(model, x, y)
    assert set(grads["weights"]) == {n for n, _ in model.named_parameters()}
    assert set(grads["activations"]) == {"conv1", "conv2", "fc1", "fc2"}
    assert grads["activations"]["conv1"].shape == (8, 20, 24, 24)
    assert all(p.grad is None for p in model.parameters())


def test_scaling_lowers_underflow_and_large_scales_overflow():
    g = {"weights": {"w": torch.logspace(-12, 0, 1000)}}
    rows = {r["scale"]: r for r in loss_scale_table(g, [1.0, 2.0 ** 8, 2.0 ** 16, 2.0 ** 24])}
    assert rows[1.0]["underflow_fraction"] > rows[2.0 ** 8]["underflow_fraction"] > rows[2.0 ** 16]["underflow_fraction"]
    assert rows[1.0]["overflow"] == 0 and rows[2.0 ** 24]["overflow"] > 0
    assert max_safe_scale(g) == 2.0 ** 15
    with pytest.raises(ValueError, match="zero"):
        max_safe_scale({"w": {"a": torch.zeros(3)}})
