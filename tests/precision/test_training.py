"""SGD with low-precision weights and no master copy: the stall of round-to-nearest, the progress of stochastic
rounding, the master-copy contrast, the statistics, and the config's errors."""
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from companion.precision import get_format
from companion.precision.training import (LOG2_HI, LOG2_LO, LowPrecisionConfig, LowPrecisionSGD, init_model,
                                          train_low_precision, update_histogram)


def steps(fmt_name, rounding, lr, n=20, master=False, seed=0):
    """``n`` SGD steps on a linear least-squares toy problem; returns the layer and the optimizer."""
    torch.manual_seed(0)
    layer = nn.Linear(50, 5)
    x, y = torch.randn(64, 50), torch.randn(64, 5)
    opt = LowPrecisionSGD(layer.parameters(), get_format(fmt_name), lr, rounding, torch.Generator().manual_seed(seed),
                          master_copy=master)
    for _ in range(n):
        opt.zero_grad()
        nn.functional.mse_loss(layer(x), y).backward()
        opt.step()
    return layer, opt


def test_weights_stay_on_the_grid():
    fmt = get_format("fixed<8,6>")
    layer, _ = steps("fixed<8,6>", "stochastic", lr=0.05)
    for p in layer.parameters():
        assert torch.equal(fmt.quantize(p.detach()), p.detach())
    bf_layer, _ = steps("bf16", "stochastic", lr=1e-3)
    assert all(torch.equal(p.detach().to(torch.bfloat16).float(), p.detach()) for p in bf_layer.parameters())


def test_round_to_nearest_stalls_when_updates_are_below_half_an_lsb():
    layer0 = nn.Linear(50, 5)
    layer, opt = steps("fixed<8,6>", "nearest", lr=1e-4)  # |lr·g| ≪ 2^-7 = LSB/2
    assert all(s["changed"] == 0.0 for s in opt.steps)
    assert all(s["below_half"] == 1.0 for s in opt.steps)
    assert layer0 is not layer


def test_stochastic_rounding_moves_as_often_as_the_updates_say():
    _, opt = steps("fixed<8,6>", "stochastic", lr=1e-4, n=30)
    changed = sum(s["changed"] for s in opt.steps) / len(opt.steps)
    assert 0 < changed < 0.2  # the expected fraction is the mean of |lr·g| / LSB, small but not zero


def test_master_copy_accumulates_what_rounding_drops():
    layer, opt = steps("fixed<8,6>", "nearest", lr=1e-2, n=60, master=True)
    plain, plain_opt = steps("fixed<8,6>", "nearest", lr=1e-2, n=60)
    assert sum(s["changed"] for s in opt.steps) > 0
    assert sum(s["changed"] for s in opt.steps) > sum(s["changed"] for s in plain_opt.steps)
    master = opt.state[layer.weight]["master"]
    assert not torch.equal(master, layer.weight.detach())  # the float32 copy is off the grid
    assert torch.equal(get_format("fixed<8,6>").quantize(master), layer.weight.detach())


def test_same_seed_same_run():
    a, _ = steps("fixed<8,6>", "stochastic", lr=1e-3, seed=3)
    b, _ = steps("fixed<8,6>", "stochastic", lr=1e-3, seed=3)
    c, _ = steps("fixed<8,6>", "stochastic", lr=1e-3, seed=4)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)


def test_update_histogram_by_hand():
    ratio = torch.tensor([0.0, 0.3, 1.0, 1.5, 3.0, 1e-9, 1e9, 0.5])
    hist, zeros = update_histogram(ratio)
    assert zeros == 1 and int(hist.sum()) == 7 and len(hist) == LOG2_HI - LOG2_LO
    at = {k: int(hist[k - LOG2_LO]) for k in range(LOG2_LO, LOG2_HI)}
    assert at[-2] == 1 and at[-1] == 1 and at[0] == 2 and at[1] == 1  # 0.3; 0.5; 1.0 and 1.5; 3.0
    assert at[LOG2_LO] == 1 and at[LOG2_HI - 1] == 1  # 1e-9 and 1e9 in the edge bins


def tiny_splits(n=256):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)

    class S:
        input_shape, num_classes = (1, 28, 28), 10
        train = TensorDataset(x, y)
        test = TensorDataset(x[:64], y[:64])
    return S


def test_train_low_precision_history():
    s = tiny_splits()
    before = torch.random.get_rng_state()
    model = init_model("lenet300", s, seed=0)
    assert torch.equal(before, torch.random.get_rng_state())
    cfg = LowPrecisionConfig("fixed<8,6>", "nearest", epochs=2, batch_size=64)
    run = train_low_precision(model, s.train, cfg, device="cpu", test_data=s.test)
    assert [r["epoch"] for r in run["history"]] == [1, 2] and len(run["changed"]) == 8
    for row in run["history"]:
        assert row["changed"] < 1e-3 and row["below_half"] > 0.99 and 0 <= row["test_accuracy"] <= 1
        assert row["hist"].shape == (LOG2_HI - LOG2_LO,)
    fp32 = train_low_precision(init_model("lenet300", s, 0), s.train, LowPrecisionConfig("fp32", "nearest", epochs=1),
                               device="cpu")
    assert fp32["history"][0]["changed"] > 0.5


def test_config_labels_and_errors():
    assert LowPrecisionConfig("fixed<8,6>", "nearest").label == "fixed<8,6> RN"
    assert LowPrecisionConfig("fixed<8,6>", "nearest", master_copy=True).label == "fixed<8,6> RN + master"
    assert LowPrecisionConfig("fp32").label == "fp32"
    with pytest.raises(ValueError, match="unknown format"):
        LowPrecisionConfig("fixed8")
    with pytest.raises(ValueError, match="rounding"):
        LowPrecisionConfig("fp16", "down")
    with pytest.raises(ValueError, match="lr"):
        LowPrecisionConfig("fp16", lr=0)
    with pytest.raises(ValueError, match="epochs"):
        LowPrecisionConfig("fp16", epochs=0)
