"""The BNN packed end to end: identical logits, bits between the binary layers, its file and its time breakdown."""
import numpy as np
import pytest
import torch

from companion.binarization import PackedBNN, count_weights, load_packed, save_packed, state_bytes, time_breakdown
from companion.binarization.report import breakdown_stages
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


@pytest.mark.parametrize("kw", [{}, {"binarize_first_last": True}])  # the compiled middle, the module path
def test_time_breakdown_arithmetic_with_a_fake_timer(kw, trained_like):
    packed = PackedBNN(trained_like("bnn", **kw))
    x = torch.randn(1, 1, 28, 28)
    labels = list(breakdown_stages(packed, x))
    kinds = [kind for kind, _ in breakdown_stages(packed, x).values()]
    fake = {label: float(i + 1) for i, label in enumerate(labels)}  # 1, 2, 3, … ms in stage order
    thresholds = [i for i, k in enumerate(kinds) if k == "thresholds"]
    for t in thresholds:
        assert kinds[t - 1] == "kernel"  # a thresholds stage follows its kernel alone
        fake[labels[t]] = fake[labels[t - 1]] + 0.5
    t = thresholds[0]
    stage_sum = sum(0.5 if i in thresholds else fake[label] for i, label in enumerate(labels))
    fake["whole forward"] = stage_sum + 10.0
    seen = {}

    def timer(callables, x, rounds, min_run_time, threads):
        seen.update(callables=callables, threads=threads)
        return fake, {"threads": threads}
    result = time_breakdown(packed, x, threads=3, timer=timer)
    assert set(seen["callables"]) == set(fake) and seen["threads"] == 3
    ms = {r["stage"]: r["ms"] for r in result["stages"]}
    assert ms[labels[t]] == 0.5  # with thresholds minus the kernel alone
    assert ms["Python calls and conversions"] == pytest.approx(fake["whole forward"] - stage_sum)
    assert sum(r["share"] for r in result["stages"]) == pytest.approx(1.0)
    fake["whole forward"] = stage_sum - 1.0  # the stages timed apart add up to more than the whole: no glue
    over = time_breakdown(packed, x, threads=3, timer=timer)["stages"]
    assert over[-1]["ms"] == 0.0 and sum(r["share"] for r in over) == pytest.approx(1.0)
    assert over[0]["share"] == pytest.approx(1.0 / stage_sum)
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
