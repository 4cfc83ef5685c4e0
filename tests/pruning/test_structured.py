"""Structured (filter) pruning: physical removal, equivalent dense model, bad settings."""
import pytest
import torch

from companion.measure import count_macs, count_params
from companion.models import LeNet5
from companion.pruning import FilterPruneConfig, channel_counts, filters_to_remove, l1_filter_norms, prune_filters


# ---------------------------------------------------------------- the pruner
def _tiny_data(n=128):
    g = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


# ---------------------------------------------------------------- structured pruning
def test_l1_filter_norms_and_choice():
    w = torch.zeros(3, 2, 2, 2)
    w[0] += 1.0
    w[1] -= 0.1
    w[2, 0, 0, 0] = 5.0
    assert l1_filter_norms(w).tolist() == pytest.approx([8.0, 0.8, 5.0])
    assert filters_to_remove(w, 1 / 3) == [1]


def test_prune_filters_gives_a_smaller_equivalent_dense_model():
    torch.manual_seed(0)
    model = LeNet5().eval()
    x = torch.randn(3, 1, 28, 28)
    slim, removed = prune_filters(model, FilterPruneConfig(ratio=0.5), x[:1])
    assert channel_counts(slim) == {"conv1": 10, "conv2": 25, "fc1": 500, "fc2": 10}
    assert slim.conv2.in_channels == 10 and slim.fc1.in_features == 25 * 4 * 4
    assert slim(x).shape == model(x).shape == (3, 10)
    assert count_params(slim) < count_params(model) and count_macs(slim, x[:1]) < count_macs(model, x[:1])
    assert channel_counts(model)["conv1"] == 20  # the original is untouched
    zeroed = LeNet5().eval()  # the same network with the removed filters silenced gives the same outputs
    zeroed.load_state_dict(model.state_dict())
    with torch.no_grad():
        for name, idx in removed.items():
            getattr(zeroed, name).weight[idx] = 0
            getattr(zeroed, name).bias[idx] = 0
    torch.testing.assert_close(slim(x), zeroed(x), rtol=1e-4, atol=1e-5)


def test_prune_filters_bad_settings():
    x = torch.randn(1, 1, 28, 28)
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\)"):
        FilterPruneConfig(ratio=1.0)
    with pytest.raises(ValueError, match="no prunable layer"):
        prune_filters(LeNet5(), FilterPruneConfig(layers=("conv3",)), x)
    with pytest.raises(ValueError, match="changed the output shape"):
        prune_filters(LeNet5(), FilterPruneConfig(layers=("fc2",)), x)


# ---------------------------------------------------------------- coupled channels (issue 11 bug 11)
from torch import nn  # noqa: E402

from companion.models import ResNetSmall  # noqa: E402


def _depthwise_separable():
    """conv → depthwise 3×3 (groups = channels) → pointwise 1×1 → classifier: the depthwise conv's channels are
    its input's channels, so the first conv and the depthwise conv must lose the same filters."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()


def _bn_matches_its_conv(model):
    mods = list(model.modules())
    for a, b in zip(mods, mods[1:]):
        if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
            assert b.num_features == a.out_channels and b.running_mean.numel() == a.out_channels


@pytest.mark.parametrize("blocks", [1, 2])
def test_prune_filters_keeps_residual_groups_consistent(blocks):
    torch.manual_seed(0)
    model = ResNetSmall(width=8, blocks=blocks).eval()
    x = torch.randn(2, 1, 28, 28)
    slim, removed = prune_filters(model, FilterPruneConfig(ratio=0.5), x[:1])
    assert slim(x).shape == (2, 10) and count_params(slim) < count_params(model)
    _bn_matches_its_conv(slim)
    c = channel_counts(slim)
    assert c["stem.0"] == 4 and c["layers.0.conv2"] == 4  # stem and the identity shortcut's block: one group
    for i, block in enumerate(slim.layers):
        assert block.conv1.in_channels == (slim.stem[0].out_channels if i == 0 else slim.layers[i - 1].conv2.out_channels)
        if isinstance(block.shortcut, nn.Sequential):
            assert block.shortcut[0].out_channels == block.conv2.out_channels
    assert slim.fc.in_features == slim.layers[-1].conv2.out_channels
    assert removed["stem.0"] == removed["layers.0.conv2"]  # coupled by the residual sum: the same channels go
    # the group's score is the sum of its filters' L1 norms (one independent ranking per group, from the original)
    score = sum(l1_filter_norms(model.get_submodule(n).weight)
                for n in ["stem.0"] + [f"layers.{j}.conv2" for j in range(blocks)])
    assert sorted(removed["stem.0"]) == sorted(filters_to_remove(score[:, None], 0.5))


def test_prune_filters_keeps_depthwise_groups_consistent():
    torch.manual_seed(0)
    model = _depthwise_separable()
    x = torch.randn(2, 1, 28, 28)
    slim, removed = prune_filters(model, FilterPruneConfig(ratio=0.5), x[:1])
    assert slim(x).shape == (2, 10) and count_params(slim) < count_params(model)
    _bn_matches_its_conv(slim)
    dw = slim[3]
    assert slim[0].out_channels == dw.in_channels == dw.out_channels == dw.groups == 4
    assert slim[6].in_channels == 4 and slim[6].out_channels == 8 and slim[11].in_features == 8
    assert removed["0"] == removed["3"]
