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


def test_measure_modes_rows():
    from companion.precision.speed import measure_modes

    torch.manual_seed(0)
    model = LeNet300()
    errors, lat = measure_modes({"lenet300": (model, torch.randn(4, 1, 28, 28))}, [1, 2], modes=("fp32", "bf16"),
                                rounds=1, min_run_time=0.01)
    assert len(errors) == 4 and len(lat) == 4
    assert {r["mode"] for r in lat} == {"fp32", "bf16"} and all(r["reference"] == "fp32" for r in lat)
    assert [r["batch_size"] for r in lat] == [1, 1, 2, 2]


def test_expectations_branch_on_the_flags():
    from companion.precision.speed import expectations

    assert "AMX-BF16" in expectations({"amx_bf16": True, "avx512_bf16": True})
    plain = expectations({"avx512_bf16": True})
    assert "no AMX" in plain and "fp16 is converted to float32" in plain
    none = expectations({})
    assert "bf16 is converted to float32" in none and "slow-down" in none
