import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from companion.nas import SearchSpace, darts
from companion.nas.oneshot import OneShotConfig, Supernet, path_accuracy, random_path, recalibrate_bn_, train_supernet


def tiny_data(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.randn(n, 1, 28, 28, generator=g) * 0.3 + y.view(-1, 1, 1, 1) * 0.2   # learnable: mean encodes class
    return TensorDataset(x, y)


def test_supernet_paths_are_the_networks_of_the_space(space):
    net = Supernet(space)
    assert net.arch((0, 3, 2)) == (0, 1, 3, 1, 2, 1)
    sub = space.build(net.arch((0, 3, 2)))
    count = lambda mods: sum(p.numel() for m in mods for p in m.parameters())  # noqa: E731
    assert count(net.path_modules((0, 3, 2))) == count([sub])
    assert net(torch.zeros(2, 1, 28, 28), (1, 2, 3)).shape == (2, 10)
    g = torch.Generator().manual_seed(0)
    assert len({random_path(4, 3, g) for _ in range(1000)}) == 64


SMALL = SearchSpace(channels=(4, 8, 8), stem_channels=4)   # the same structure, a fraction of the cost


def test_training_changes_shared_weights_and_recalibration_resets_bn():
    torch.manual_seed(0)
    net = Supernet(SMALL)
    data = tiny_data()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    hist = train_supernet(net, data, OneShotConfig(epochs=1, batch_size=32))
    assert len(hist) == 1 and np.isfinite(hist[0]["loss"])
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    recalibrate_bn_(net, (0, 0, 0), data, batches=2, batch_size=32)
    bn = net.choices[0][0][1]
    assert int(bn.num_batches_tracked) == 2 and bn.momentum == 0.1
    acc = path_accuracy(net, (0, 0, 0), data, data, OneShotConfig(calibration_batches=1, batch_size=32))
    assert 0 <= acc <= 1


def test_darts_mixes_ops_and_a_latency_penalty_moves_alpha_to_cheap_ops():
    data = tiny_data(64)
    lat = np.tile(np.array([[1.0, 1.0, 0.0, 1.0]]), (3, 1))     # op 2 free, every other op costs 1 ms
    cfg = darts.DartsConfig(epochs=2, batch_size=32, arch_lr=0.1, latency_penalty=10.0)
    out = darts.search(SMALL, data, data, cfg, latency=lat)
    assert out["alphas"].shape == (3, 3, 4) and np.allclose(out["alphas"].sum(-1), 1, atol=1e-5)
    assert out["arch"] == (2, 1, 2, 1, 2, 1)
    assert out["history"][-1]["expected_latency_ms"] < 3 * 0.75


def test_mixed_is_the_weighted_sum():
    ops = torch.nn.ModuleList([torch.nn.Identity(), torch.nn.Identity()])
    x = torch.ones(2)
    assert torch.allclose(darts.mixed(ops, torch.tensor([0.25, 0.75]), x), x)


def test_bad_configs():
    with pytest.raises(ValueError, match="epochs, batch_size and calibration_batches must be >= 1"):
        OneShotConfig(epochs=0)
    with pytest.raises(ValueError, match="latency_penalty >= 0"):
        darts.DartsConfig(latency_penalty=-1)
    with pytest.raises(ValueError, match="needs the .* latency matrix"):
        darts.search(None, None, None, darts.DartsConfig(latency_penalty=1.0))
