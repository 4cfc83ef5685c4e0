"""Mini networks: shapes, the ≤ 8 M MAC budget, α and ρ scaling, the registry as train_cached's build=, errors."""
import pytest
import torch

from companion import measure, train
from companion.architectures import MINI_NETS, build_mini, builder, resized, scaled
from companion.data import Splits
from torch.utils.data import TensorDataset

X = torch.randn(2, 1, 28, 28)


@pytest.mark.parametrize("name", MINI_NETS)
def test_every_mini_net_classifies_28x28_under_8m_macs(name):
    torch.manual_seed(0)
    net = build_mini(name)
    assert tuple(net.eval()(X).shape) == (2, 10)
    assert 100_000 < measure.count_macs(net, X[:1]) <= 8_000_000


def test_mobilenet_mini_is_several_times_cheaper_than_the_plain_cnn():
    plain, mobile = (measure.count_macs(build_mini(n), X[:1]) for n in ("plain_cnn", "mobilenet_mini"))
    assert 5 < plain / mobile < 8


def test_width_multiplier_scales_macs_between_alpha2_and_alpha():
    full = measure.count_macs(build_mini("mobilenet_mini"), X[:1])
    half = measure.count_macs(build_mini("mobilenet_mini", alpha=0.5), X[:1])
    assert 0.25 < half / full < 0.5  # pointwise ∝ α², depthwise and stem ∝ α
    assert measure.count_params(build_mini("mobilenet_mini", alpha=0.5)) < measure.count_params(build_mini("mobilenet_mini")) / 2.5


def test_resolution_multiplier_resizes_the_input_and_scales_macs_by_about_rho2():
    full = measure.count_macs(build_mini("mobilenet_mini"), X[:1])
    net = build_mini("mobilenet_mini", rho=0.75)
    assert net.resize.size == 21 and net.eval()(X).shape == (2, 10)
    ratio = measure.count_macs(net, X[:1]) / full
    assert abs(ratio - 0.75 ** 2) < 0.1  # ρ² exactly per layer up to ceil(21/2), ceil(11/2) at the strided layers
    assert measure.count_params(net) == measure.count_params(build_mini("mobilenet_mini"))


def test_shuffle_does_not_change_params_or_macs_but_changes_the_function():
    torch.manual_seed(0)
    a = build_mini("shufflenet_mini")
    torch.manual_seed(0)
    b = build_mini("shufflenet_mini", shuffle=False)
    assert measure.count_params(a) == measure.count_params(b) and measure.count_macs(a, X[:1]) == measure.count_macs(b, X[:1])
    assert not torch.allclose(a.eval()(X), b.eval()(X))


def test_builder_works_with_train_cached(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g))
    splits = Splits("tiny", data, data, tuple(str(i) for i in range(10)))
    cfg = train.TrainConfig(epochs=1, batch_size=16)
    model, info = train.train_cached("mobilenet_mini", splits, cfg, device="cpu", build=builder("mobilenet_mini"),
                                     model_kwargs={"alpha": 0.5}, directory=tmp_path)
    again, info2 = train.train_cached("mobilenet_mini", splits, cfg, device="cpu", build=builder("mobilenet_mini"),
                                      model_kwargs={"alpha": 0.5}, directory=tmp_path)
    assert not info["cached"] and info2["cached"] and info["key"] == info2["key"]
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), again.state_dict().values()))


def test_bad_multipliers_and_names_raise():
    with pytest.raises(ValueError, match="alpha must be > 0"):
        scaled(16, 0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        build_mini("mobilenet_mini", alpha=-0.5)
    with pytest.raises(ValueError, match="rho must be in"):
        resized(28, 1.5)
    with pytest.raises(ValueError, match="unknown mini network"):
        builder("alexnet_mini")
