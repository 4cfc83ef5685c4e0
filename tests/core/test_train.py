import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from companion import train
from companion.data import load_dataset
from companion.train import TrainConfig


def toy_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 2, 2, generator=g)
    y = (x.flatten(1).sum(1) > 0).long()
    return TensorDataset(x, y)


def toy_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 2))


@pytest.mark.parametrize("kwargs,match", [
    ({"epochs": -1}, "epochs must be >= 0"), ({"lr": 0}, "lr must be > 0"),
    ({"batch_size": 0}, "batch_size must be >= 1"), ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ({"schedule": "step"}, "schedule must be one of"), ({"max_train": 0}, "max_train must be >= 1"),
    ({"class_weights": ()}, "class_weights must be a non-empty"), ({"class_weights": (1.0, 0.0)}, "finite numbers > 0"),
    ({"class_weights": (1.0, float("nan"))}, "finite numbers > 0"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_devices():
    assert train.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert train.resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        train.resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            train.resolve_device("cuda")


def test_fit_learns_and_calls_back():
    data = toy_data()
    torch.manual_seed(0)
    model = toy_model()
    before = train.evaluate(model, data, device="cpu")
    steps = []
    hist = train.fit(model, data, TrainConfig(epochs=3, lr=0.05, batch_size=32), device="cpu",
                     step_callback=lambda m, s: steps.append(s), test_data=data)
    assert steps == list(range(1, 3 * 8 + 1))
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert hist[-1]["test_accuracy"] > max(before, 0.9)


def test_fit_is_deterministic_and_max_train_limits():
    data = toy_data()
    weights = []
    for _ in range(2):
        torch.manual_seed(1)
        m = toy_model()
        train.fit(m, data, TrainConfig(epochs=1, seed=5), device="cpu")
        weights.append(m[1].weight.detach().clone())
    assert torch.equal(*weights)
    calls = []
    train.fit(toy_model(), data, TrainConfig(epochs=1, batch_size=10, max_train=30), device="cpu",
              step_callback=lambda m, s: calls.append(s))
    assert len(calls) == 3


def test_class_weights_weight_the_default_cross_entropy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 1))  # per-pixel logits (N, 3, H, W) against (N, H, W) labels
    x, y = torch.randn(4, 1, 5, 5), torch.randint(0, 3, (4, 5, 5))
    w = (0.2, 1.0, 3.0)
    logp = model(x).log_softmax(1).gather(1, y[:, None])[:, 0]
    wy = torch.tensor(w)[y]
    expected = -(wy * logp).sum() / wy.sum()  # the weighted mean, written out
    got = train.weighted_cross_entropy_loss(w)(model, x, y)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    assert got.item() != pytest.approx(train.cross_entropy_loss(model, x, y).item(), rel=1e-3)
    assert TrainConfig(class_weights=[1, 2, 3]).class_weights == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="2 class weights for a model with 3 outputs"):
        train.weighted_cross_entropy_loss((1.0, 2.0))(model, x, y)


def test_fit_uses_the_config_class_weights():
    data = toy_data(64)
    losses = []
    for w in (None, (1.0, 1.0), (1.0, 50.0)):
        torch.manual_seed(0)
        m = toy_model()
        losses.append(train.fit(m, data, TrainConfig(epochs=1, batch_size=64, lr=1e-9, class_weights=w), device="cpu")[0]["loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-6) and losses[2] != pytest.approx(losses[0], rel=1e-3)
    with pytest.raises(ValueError, match="weight the classes inside it"):
        train.fit(toy_model(), data, TrainConfig(epochs=1, class_weights=(1.0, 2.0)), device="cpu",
                  loss_fn=train.cross_entropy_loss)


def test_unset_later_config_fields_leave_the_cache_key_unchanged():
    import hashlib
    import json
    from dataclasses import asdict
    cfg = TrainConfig(epochs=2, seed=1)
    old = {k: v for k, v in asdict(cfg).items() if k != "class_weights"}  # the config as keyed before the field
    spec = {"model": "m", "model_kwargs": {}, "dataset": "d", "config": old, "device": "cpu",
            "torch": torch.__version__.split("+")[0], "data": None, "source": None}
    assert train.cache_key("m", {}, "d", cfg, torch.device("cpu")) == \
        hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    weighted = TrainConfig(epochs=2, seed=1, class_weights=(1.0, 2.0))
    assert train.cache_key("m", {}, "d", weighted, torch.device("cpu")) != train.cache_key("m", {}, "d", cfg, torch.device("cpu"))


def test_custom_loss_fn_is_used():
    seen = []

    def loss_fn(model, x, y):
        seen.append(x.shape[0])
        return model(x).pow(2).mean()

    train.fit(toy_model(), toy_data(64), TrainConfig(epochs=1, batch_size=16), device="cpu", loss_fn=loss_fn)
    assert seen == [16, 16, 16, 16]


def test_evaluate_on_a_hand_made_model():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    ident = nn.Linear(2, 2, bias=False)
    ident.weight.data = torch.eye(2)
    assert train.evaluate(ident, TensorDataset(x, y), device="cpu") == pytest.approx(0.75)


def test_train_cached_reuses_the_checkpoint(isolated_cache):
    splits = load_dataset()
    cfg = TrainConfig(epochs=1, max_train=64, seed=3)
    m1, info1 = train.train_cached("lenet300", splits, cfg, device="cpu")
    m2, info2 = train.train_cached("lenet300", splits, cfg, device="cpu")
    assert not info1["cached"] and info2["cached"] and info1["path"] == info2["path"]
    assert info1["path"].startswith(str(isolated_cache))
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    ckpt = torch.load(info1["path"], weights_only=True)
    assert set(ckpt) == {"state_dict", "history"} and len(ckpt["history"]) == 1
    _, info3 = train.train_cached("lenet300", splits, TrainConfig(epochs=1, max_train=64, seed=4), device="cpu")
    assert info3["key"] != info1["key"] and not info3["cached"]
    assert not list(isolated_cache.glob("*.tmp*"))


def test_baseline_recipes():
    assert train.baseline_config("resnet_small").epochs == train.BASELINE_EPOCHS["resnet_small"]
    assert train.baseline_config("lenet5", smoke=True).max_train == train.SMOKE_TRAIN
    assert train.baseline_config("lenet5", epochs=2).epochs == 2
    with pytest.raises(ValueError, match="no baseline recipe for 'vgg'"):
        train.baseline_config("vgg")


def test_train_cached_leaves_the_global_rng_alone(isolated_cache):
    splits = load_dataset()
    cfg = TrainConfig(epochs=1, max_train=64, seed=3)
    for _ in range(2):  # trained, then loaded from the cache: neither touches the caller's RNG
        torch.manual_seed(123)
        expected = torch.rand(3)
        torch.manual_seed(123)
        train.train_cached("lenet300", splits, cfg, device="cpu")
        assert torch.equal(torch.rand(3), expected)


def test_the_cache_key_follows_the_data_and_the_model_code(isolated_cache):
    from torch.utils.data import TensorDataset

    from companion.data import Splits
    splits = load_dataset()
    cfg = TrainConfig(epochs=1, max_train=32, seed=0)
    _, a = train.train_cached("lenet300", splits, cfg, device="cpu")
    x, y = splits.train.tensors
    changed = Splits(splits.name, TensorDataset(x.clone() * 1.01, y), splits.test, splits.classes)
    _, b = train.train_cached("lenet300", changed, cfg, device="cpu")
    assert b["key"] != a["key"] and not b["cached"], "a rebuilt data set must not load a stale checkpoint"

    class Edited(nn.Module):  # same name, other code: another key
        def __init__(self, input_shape, num_classes):
            super().__init__()
            self.fc = nn.Linear(784, num_classes)

        def forward(self, x):
            return self.fc(x.flatten(1))
    Edited.__module__ = "companion.fake"
    h1 = train.model_source_hash(Edited((1, 28, 28), 10))
    h2 = train.model_source_hash(train.build_model("lenet300"))
    assert h1 != h2 and len(h1) == 16


def test_noise_tolerance_is_two_sigma_of_a_difference():
    assert train.noise_tolerance("lenet300") == pytest.approx(2 * 2 ** 0.5 * train.SEED_SPREAD["lenet300"])
    assert set(train.SEED_SPREAD) == set(train.BASELINE_EPOCHS)
    with pytest.raises(ValueError, match="no seed spread measured for 'vgg'"):
        train.noise_tolerance("vgg")
    with pytest.raises(ValueError, match="k must be > 0"):
        train.noise_tolerance("lenet5", k=0)
