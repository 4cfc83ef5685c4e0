"""Issue 11's quantization bugs, each guarded by a test written to fail on the code before the fix."""
import warnings

import pytest
import torch
from torch import nn

from companion import measure
from companion.measure import size_bytes
from companion.quantization import int8
from companion.quantization.affine import QuantConfig, affine_qparams
from companion.quantization.deep_compression import DeepCompressionConfig, load_compressed, save_compressed
from companion.quantization.fake_quant import ActFakeQuant, fake_quantize_model
from companion.quantization import weight_sharing as ws
from companion.quantization.weight_sharing import share_model_weights_, share_weights


# ---------------------------------------------------------------- bug 2: affine quantization needs 2 bits
def test_one_bit_affine_quantization_is_refused_and_points_to_binarization():
    with pytest.raises(ValueError, match=r"bits must be an integer in \[2, 16\].*1 bit is binarization"):
        QuantConfig(bits=1, symmetric=True)
    with pytest.raises(ValueError, match="1 bit is binarization"):
        affine_qparams(torch.tensor(-1.0), torch.tensor(1.0), bits=1)


# ---------------------------------------------------------------- bug 6: the shared export is codebook + indices
def _shared_model(clusters=16):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    with torch.no_grad():
        model[0].weight[model[0].weight.abs() < 0.02] = 0  # some pruned weights
    share_model_weights_(model, clusters)
    return model


def test_shared_export_keeps_only_codebook_and_indices(tmp_path):
    model = _shared_model()
    sd = ws.shared_state_dict(model)
    assert set(sd) == {"0.codebook", "0.indices", "0.bias", "2.codebook", "2.indices", "2.bias"}
    assert sd["0.indices"].dtype == torch.uint8 and sd["0.codebook"].shape == (17,)  # 16 centroids + the zero
    path = ws.save_shared(model, tmp_path / "m.pt")
    dense_bytes = size_bytes(nn.Sequential(nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))).bytes
    # the parametrized model's own state_dict drags the original, int64 indices and a mask along
    assert size_bytes(model).bytes > 2 * dense_bytes
    # the real file: one byte per weight, the float32 biases and codebooks, torch.save's zip container
    payload = 30000 + 1000 + 4 * (100 + 10 + 2 * 17)
    assert payload <= size_bytes(path).bytes <= payload + 3000 < dense_bytes / 3.5
    back = ws.load_shared(path)
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items() if k in back)
    assert torch.equal(back["0.weight"], model[0].weight.detach())
    assert torch.equal(back["2.weight"], model[2].weight.detach())


# ---------------------------------------------------------------- bug 7: Deep Compression's limits and dtypes
def test_deep_compression_bits_are_checked_against_the_codebook_limit():
    with pytest.raises(ValueError, match=r"bits must be in \[1, 8\].*256"):
        DeepCompressionConfig(bits=9)
    DeepCompressionConfig(bits=8)


def test_deep_compression_file_keeps_integer_and_float_dtypes(tmp_path):
    sd = {"w": torch.tensor([[0.0, 0.5], [0.5, -1.0]]), "n": torch.tensor(7, dtype=torch.int64),
          "i": torch.arange(6, dtype=torch.int32).reshape(2, 3), "h": torch.randn(3, 4).half(),
          "b": torch.tensor([True, False])}
    back = load_compressed(save_compressed(sd, tmp_path / "m.dc"))
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k


# ---------------------------------------------------------------- bug 8: an all-zero layer, the leaking observer
def test_kmeans_sharing_of_an_all_zero_layer_gives_an_empty_codebook():
    codebook, indices = share_weights(torch.zeros(4, 5), 8)
    assert codebook.shape == (0,) and torch.equal(indices, torch.zeros(4, 5, dtype=torch.long))
    model = nn.Sequential(nn.Linear(5, 4))
    with torch.no_grad():
        model[0].weight.zero_()
    share_model_weights_(model, 8)
    assert torch.equal(model[0].weight, torch.zeros(4, 5))


def test_uncalibrated_activation_quantizer_keeps_bounded_memory():
    q = ActFakeQuant(QuantConfig(bits=8, symmetric=False, calibration="mse"))
    for _ in range(3 * ActFakeQuant.MAX_BATCHES):
        q(torch.randn(4, 8))
    assert len(q._samples) == ActFakeQuant.MAX_BATCHES
    q.freeze()
    assert q._samples == [] and q.scale > 0
    minmax = ActFakeQuant(QuantConfig(bits=8))  # min-max needs no samples at all
    for _ in range(10):
        minmax(torch.randn(4, 8))
    assert minmax._samples == []


def test_training_an_uncalibrated_fake_quantized_model_does_not_grow():
    model = fake_quantize_model(nn.Sequential(nn.Linear(8, 4)), QuantConfig(bits=8),
                                QuantConfig(bits=8, calibration="percentile"), fold_bn=False)
    for _ in range(2 * ActFakeQuant.MAX_BATCHES):
        model(torch.randn(2, 8))
    assert len(model[0].act_quant._samples) <= ActFakeQuant.MAX_BATCHES


# ---------------------------------------------------------------- bug 9: the int8 path at call time
@pytest.fixture(scope="module")
def small_int8():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10)).eval()
    x = torch.randn(4, 1, 28, 28)
    return model, x, int8.quantize_fx(model, [x], "x86")


def test_int8_forward_does_not_switch_engine_or_enter_a_warnings_filter(small_int8, monkeypatch):
    _, x, q = small_int8
    calls = []
    with int8.quantized_engine("qnnpack" if "qnnpack" in int8.available_engines() else "onednn"), \
            q.timing_context():  # what measure's timers enter once, outside the timed loop
        assert torch.backends.quantized.engine == "x86"
        monkeypatch.setattr(int8, "quantized_engine", lambda e: calls.append(("engine", e)) or _null())
        monkeypatch.setattr(warnings, "catch_warnings", lambda *a, **k: calls.append("warnings") or _null())
        for _ in range(3):
            q(x)
    assert calls == []


def test_int8_forward_still_runs_under_another_global_engine(small_int8):
    _, x, q = small_int8
    ref = q(x)
    other = next(e for e in int8.available_engines() if e in int8.TORCH_ENGINES and e != "x86")
    with int8.quantized_engine(other):
        assert torch.equal(q(x), ref)
        assert torch.backends.quantized.engine == other  # the global setting is left alone


def test_recorded_engine_is_the_models_own(small_int8, tmp_path):
    model, x, q = small_int8
    with int8.quantized_engine("onednn" if "onednn" in int8.available_engines() else "qnnpack"):
        cmp = measure.compare_latency(model, q, x, rounds=1, min_run_time=0.01)
    assert cmp["engine"] == "x86" and cmp["baseline_engine"] == "pytorch"
    if int8.ORT in int8.available_engines():
        ort = int8.OrtModel(int8.export_onnx(model, x[:1], tmp_path / "m.onnx"))
        assert measure.engine_of(ort) == "onnxruntime"


def test_int8_module_has_no_second_latency_protocol():
    assert not hasattr(int8, "latency_table")  # one protocol: companion.measure.latency_table


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@pytest.mark.parametrize("coding", ["packed", "huffman"])
def test_deep_compression_file_of_all_zero_and_empty_tensors(coding, tmp_path):
    # an all-zero (fully pruned) layer has an empty codebook; empty tensors have no bytes at all
    sd = {"z": torch.zeros(3, 4), "e": torch.zeros(0, 5), "bf": torch.randn(2, 3).bfloat16(),
          "ebf": torch.zeros(0, dtype=torch.bfloat16)}
    back = load_compressed(save_compressed(sd, tmp_path / "z.dc", coding))
    for k, v in sd.items():
        assert back[k].dtype == v.dtype and torch.equal(back[k], v), k
