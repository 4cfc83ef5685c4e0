"""companion.quantization.int8: engine checks, FX int8 conversion, ONNX export and ONNX Runtime QDQ quantization."""
import warnings

import pytest
import torch

from companion.measure import size_bytes
from companion.models import ResNetSmall
from companion.quantization.int8 import (ENGINES, INT8_CPU_FLAGS, ORT, TORCH_ENGINES, EngineModel, OrtModel,
                                         available_engines, check_engine, cpu_flags, export_onnx,
                                         quantize_fx, quantize_onnx, quantized_engine, save_model)

# int8 against fp32, in steps of the int8 model's output grid: the last layer's rounding costs half a step, the
# half-steps of earlier layers propagate to about one more (measured: 1.5 steps for every PyTorch engine, 1.3 for
# ONNX Runtime); 3 steps is the bound, about 2 % of max |logit| at x86's 7-bit activations, 1 % at 8 bits
# (the old bound was 5 %). The exact layer-level check is in test_requant.py (at most one integer apart).
STEPS = 3


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = ResNetSmall(width=16).eval()
    with torch.no_grad():  # non-trivial BN statistics, so folding matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(16, 1, 28, 28)
    return model, x, model(x).detach()


def test_engines_listed_and_checked():
    engines = available_engines()
    assert engines and set(engines) <= set(ENGINES)
    assert [e for e in engines if e in TORCH_ENGINES] == [e for e in TORCH_ENGINES
                                                          if e in torch.backends.quantized.supported_engines]
    assert check_engine(engines[0]) == engines[0]


def test_unknown_engine_raises_with_the_list():
    with pytest.raises(ValueError, match=r"unknown int8 engine 'tensorrt'; known engines: x86, fbgemm"):
        check_engine("tensorrt")


def test_unsupported_engine_lists_the_available_ones(monkeypatch):
    import companion.quantization.int8 as int8_module
    monkeypatch.setattr(int8_module, "available_engines", lambda: ["qnnpack", "onnxruntime"])  # an ARM build
    with pytest.raises(ValueError, match=r"'x86' is not supported on this machine .* available: qnnpack, onnxruntime"):
        check_engine("x86")


def test_quantized_engine_is_restored():
    before = torch.backends.quantized.engine
    other = next(e for e in available_engines() if e in TORCH_ENGINES and e != before)
    with quantized_engine(other):
        assert torch.backends.quantized.engine == other
    assert torch.backends.quantized.engine == before


@pytest.mark.parametrize("engine", [e for e in TORCH_ENGINES if e in torch.backends.quantized.supported_engines])
def test_fx_int8_agrees_with_fp32(setup, engine, tmp_path):
    model, x, ref = setup
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the known noise stays inside the module
        q = quantize_fx(model, [x[:8], x[8:]], engine)
        out = q(x)
    assert isinstance(q, EngineModel) and q.engine == engine
    assert out.shape == ref.shape
    out_scale = dict(q.model.named_modules())["fc"].scale  # the step of the int8 logits
    assert (out - ref).abs().max() <= STEPS * out_scale
    assert (out.argmax(1) == ref.argmax(1)).float().mean() >= 0.9
    # the saved int8 artifact holds int8 weights: about 4x smaller than the float one
    assert size_bytes(save_model(q, tmp_path / "q.pt")).bytes * 3 < size_bytes(model).bytes


def test_fx_int8_rejects_onnxruntime(setup):
    with pytest.raises(ValueError, match="use export_onnx"):
        quantize_fx(setup[0], setup[1], ORT)


def test_onnx_fp32_and_int8_agree_with_torch(setup, tmp_path):
    model, x, ref = setup
    fp32 = export_onnx(model, x[:1], tmp_path / "m.onnx")
    int8 = quantize_onnx(fp32, tmp_path / "m.int8.onnx", [x[:8], x[8:]])
    assert torch.allclose(OrtModel(fp32)(x), ref, atol=1e-4)  # dynamic batch axis: exported at 1, run at 16
    out = OrtModel(int8)(x)
    step = (ref.max().clamp(min=0) - ref.min().clamp(max=0)) / 255  # min-max calibrated uint8 logits on x
    assert (out - ref).abs().max() <= STEPS * step
    assert size_bytes(int8).bytes * 3 < size_bytes(fp32).bytes


def test_cpu_flags_are_booleans():
    flags = cpu_flags()
    assert all(isinstance(v, bool) for v in flags.values())
    if flags:  # Linux: the known names, and AVX2 wherever PyTorch reports an AVX2 or AVX-512 capability
        assert set(flags) == set(INT8_CPU_FLAGS)
        assert flags["avx2"] or torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512")
