"""fp16/bf16 variants of a model: dtypes, outputs against float32, memory layouts and errors."""
import pytest
import torch

from companion.models import LeNet5, LeNet300
from companion.precision.speed import MODES, Autocast, channels_last, conv_layer, output_errors, variant, variants


def test_variants_have_the_right_dtypes():
    torch.manual_seed(0)
    model = LeNet300()
    x = torch.randn(4, 1, 28, 28)
    models, inputs = variants(model, x)
    assert list(models) == list(MODES)
    assert models["fp32"] is model and models["bf16"].fc1.weight.dtype == torch.bfloat16
    assert models["fp16"].fc1.weight.dtype == torch.float16 and inputs["fp16"].dtype == torch.float16
    assert isinstance(models["autocast-bf16"], Autocast) and inputs["autocast-bf16"].dtype == torch.float32
    assert model.fc1.weight.dtype == torch.float32  # the original is not cast
    with torch.inference_mode():
        assert models["autocast-bf16"](x).dtype == torch.float32


def test_outputs_agree_with_float32():
    torch.manual_seed(0)
    model = LeNet5().eval()
    x = torch.randn(16, 1, 28, 28)
    errors = output_errors(*variants(model, x))
    assert errors["fp32"]["max_rel_error"] == 0.0
    for mode in ("bf16", "autocast-bf16"):
        assert errors[mode]["max_rel_error"] < 3e-2
    for mode in ("fp16", "autocast-fp16"):
        assert errors[mode]["max_rel_error"] < 5e-3
    assert all(0 <= e["argmax_agreement"] <= 1 for e in errors.values())


def test_conv_layer_is_seeded_and_channels_last_agrees():
    before = torch.random.get_rng_state()
    a, b = conv_layer(8, seed=1), conv_layer(8, seed=1)
    assert torch.equal(a.weight, b.weight) and torch.equal(before, torch.random.get_rng_state())
    x = torch.randn(2, 8, 12, 12)
    m, xl = channels_last(a, x)
    assert xl.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert torch.allclose(m(xl), a(x), atol=1e-5)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        variant(LeNet300(), "int8")
