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
