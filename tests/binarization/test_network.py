"""The BNN packed end to end: identical logits, bits between the binary layers, its file and its time breakdown."""
import numpy as np
import pytest
import torch

from companion.binarization import PackedBNN, count_weights, load_packed, save_packed, state_bytes, time_breakdown
from companion.measure import count_params


@pytest.mark.parametrize("kw", [{}, {"binarize_first_last": True},
                                {"stochastic": True, "stochastic_inference": "sign"}])
def test_packed_bnn_gives_the_float_models_logits_exactly(kw, trained_like, tmp_path):
    method = "binaryconnect" if kw.get("stochastic") else "bnn"
    if method == "binaryconnect":
        with pytest.raises(ValueError, match="sign weights and sign activations"):
            PackedBNN(trained_like(method, **kw))
        return
    model = trained_like(method, **kw)
    packed = PackedBNN(model)
    assert packed.conv2.flip.any(), "a negative batch-norm scale flips some thresholds"
    x = torch.randn(33, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(packed(x), model(x))
        bits = packed.conv2(packed.first_layer(x))
    assert isinstance(bits, np.ndarray) and bits.dtype == np.uint64 and bits.shape == (33, 7, 7, 2)  # bits, not floats
    folder = save_packed(packed, tmp_path / "bnn")
    again = load_packed(folder)
    assert isinstance(again, PackedBNN)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    assert state_bytes(packed) == sum(f.stat().st_size - 128 for f in folder.glob("*.npy"))
    assert "bn2.weight" not in packed.state_dict()  # folded into conv2's thresholds
    folded = model.bn2.num_features + (model.bn3.num_features if kw else 0)  # batch norms folded: γ, β gone
    assert count_weights(packed) == count_params(model) - 2 * folded


def test_time_breakdown_arithmetic_with_a_fake_timer(trained_like):
    packed = PackedBNN(trained_like("bnn"))
    fake = {"conv1 + bn1 (fp32)": 4.0, "pack the signs of bn1's output": 1.0, "conv2 XNOR-popcount": 2.0,
            "conv2 with bn2 + sign thresholds": 2.5, "fc3 XNOR-popcount": 0.5, "bn3, hard-tanh, fc4 (fp32)": 1.0,
            "whole forward": 10.0}
    seen = {}

    def timer(callables, x, rounds, min_run_time, threads):
        seen.update(callables=callables, threads=threads)
        return fake, {"threads": threads}
    x = torch.randn(1, 1, 28, 28)
    result = time_breakdown(packed, x, threads=3, timer=timer)
    assert set(seen["callables"]) == set(fake) and seen["threads"] == 3
    ms = {r["stage"]: r["ms"] for r in result["stages"]}
    assert ms["conv2 with bn2 + sign thresholds"] == 0.5  # with thresholds minus the kernel alone
    assert ms["Python calls and conversions"] == pytest.approx(10.0 - 4 - 1 - 2 - 0.5 - 0.5 - 1)
    assert sum(r["share"] for r in result["stages"]) == pytest.approx(1.0)
    fake["whole forward"] = 8.0  # the stages timed apart add up to more than the whole: no glue, shares of the sum
    over = time_breakdown(packed, x, threads=3, timer=timer)["stages"]
    assert over[-1]["ms"] == 0.0 and sum(r["share"] for r in over) == pytest.approx(1.0)
    assert over[0]["share"] == pytest.approx(4.0 / 9.0)
    assert {r["kind"] for r in result["stages"]} == {"full-precision layers", "packing", "kernel", "thresholds", "glue"}
    for label, fn in seen["callables"].items():  # every stage really runs (on its recorded input; the model on x)
        assert fn(x) is not None, label


def test_time_breakdown_measures_every_stage(trained_like):
    packed = PackedBNN(trained_like("bnn"))
    result = time_breakdown(packed, torch.randn(2, 1, 28, 28), rounds=1, min_run_time=0.001, threads=1)
    assert result["latency"]["threads"] == 1 and result["latency"]["batch_size"] == 2
    assert result["whole_ms"] > 0
    assert all(r["ms"] > 0 for r in result["stages"] if r["kind"] in ("kernel", "packing", "full-precision layers"))
    assert [r["kind"] for r in result["stages"]].count("kernel") == 2
