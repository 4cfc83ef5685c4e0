"""Prune-and-retrain workflows and layer sensitivity."""
import pytest
import torch

from companion.models import LeNet300
from companion.pruning import PruneConfig, layer_sensitivity, prune_and_finetune, sparsity_of
from companion.train import TrainConfig


# ---------------------------------------------------------------- the pruner
def _tiny_data(n=128):
    g = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


# ---------------------------------------------------------------- workflows
def test_prune_and_finetune_schedules_reach_the_exact_target():
    data = _tiny_data(256)
    for schedule in ("one-shot", "iterative", "gradual"):
        torch.manual_seed(0)
        model = LeNet300()
        pruner = prune_and_finetune(model, PruneConfig(sparsity=0.8, scope="global"), data,
                                    TrainConfig(epochs=2, batch_size=64), schedule=schedule, cycles=2, frequency=2)
        assert pruner.sparsity() == pytest.approx(0.8, abs=1e-5), schedule
    with pytest.raises(ValueError, match="schedule must be one of"):
        prune_and_finetune(LeNet300(), PruneConfig(), data, TrainConfig(epochs=1), schedule="cubic")


def test_layer_sensitivity_prunes_one_layer_at_a_time():
    model = LeNet300()
    seen = []
    rows = layer_sensitivity(model, lambda m: seen.append(sparsity_of([m.fc1.weight, m.fc2.weight])) or 0.5, [0.0, 0.5])
    assert [(r["layer"], r["sparsity"]) for r in rows] == [(n, s) for n in ("fc1", "fc2", "fc3") for s in (0.0, 0.5)]
    assert seen[1] == pytest.approx(0.5 * 235_200 / (235_200 + 30_000), abs=1e-4)  # fc1 alone at 0.5
    assert sparsity_of([model.fc1.weight]) == 0.0  # the original is untouched
