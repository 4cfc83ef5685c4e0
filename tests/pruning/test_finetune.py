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


def _record_fit_epochs(monkeypatch):
    import companion.train as train
    real, epochs = train.fit, []
    def recording_fit(model, data, config, **kwargs):
        epochs.append(config.epochs)
        return real(model, data, config, **kwargs)
    monkeypatch.setattr(train, "fit", recording_fit)
    return epochs


@pytest.mark.parametrize("epochs,cycles", [(5, 3), (4, 3), (3, 3), (7, 2)])
def test_iterative_pruning_spends_exactly_the_epoch_budget(monkeypatch, epochs, cycles):
    """Bug 3 (issue 11): every schedule fine-tunes ``epochs`` epochs in total, also when cycles do not divide it."""
    seen = _record_fit_epochs(monkeypatch)
    torch.manual_seed(0)
    pruner = prune_and_finetune(LeNet300(), PruneConfig(sparsity=0.8), _tiny_data(64),
                                TrainConfig(epochs=epochs, batch_size=64), schedule="iterative", cycles=cycles)
    assert len(seen) == cycles and sum(seen) == epochs and max(seen) - min(seen) <= 1
    assert pruner.sparsity() == pytest.approx(0.8, abs=1e-5)


def test_iterative_pruning_refuses_fewer_epochs_than_cycles():
    with pytest.raises(ValueError, match=r"iterative pruning with cycles=3 needs epochs >= cycles, got epochs=1"):
        prune_and_finetune(LeNet300(), PruneConfig(sparsity=0.8), _tiny_data(64), TrainConfig(epochs=1),
                           schedule="iterative", cycles=3)


def test_cycle_epochs_spreads_the_remainder():
    from companion.pruning import cycle_epochs
    assert cycle_epochs(5, 3) == [1, 2, 2] and cycle_epochs(6, 3) == [2, 2, 2] and cycle_epochs(1, 1) == [1]
    with pytest.raises(ValueError, match="needs epochs >= cycles"):
        cycle_epochs(2, 3)


@pytest.mark.parametrize("ramp,frequency", [(1.0, 4), (0.5, 2), (0.7, 3)])
def test_gradual_pruning_follows_the_cubic_ramp_at_every_update(monkeypatch, ramp, frequency):
    """The sparsity after every optimizer step is Zhu & Gupta's cubic schedule at the last update, and the target
    is reached by the schedule itself inside training (no fallback prune after it)."""
    import companion.train as train
    from companion.pruning import polynomial_sparsity
    real, seen = train.fit, []
    def recording_fit(model, data, config, step_callback=None, **kwargs):
        def callback(m, step):
            step_callback(m, step)
            seen.append((step, step_callback.sparsity(), step_callback.gradual))
        return real(model, data, config, step_callback=callback, **kwargs)
    monkeypatch.setattr(train, "fit", recording_fit)
    torch.manual_seed(0)
    pruner = prune_and_finetune(LeNet300(), PruneConfig(sparsity=0.9, scope="global"), _tiny_data(320),
                                TrainConfig(epochs=1, batch_size=32), schedule="gradual", ramp=ramp, frequency=frequency)
    assert [s for s, _, _ in seen] == list(range(1, 11))
    g = seen[0][2]
    assert g.frequency == frequency and g.end_step <= ramp * 10
    for step, sparsity, _ in seen:
        last_update = min(step // frequency * frequency, g.end_step)
        expected = polynomial_sparsity(last_update, 0.9, 0, g.end_step) if last_update else 0.0
        assert sparsity == pytest.approx(expected, abs=1e-5), (step, sparsity, expected)
    assert 0.0 < seen[frequency - 1][1] < 0.9 * 0.9  # a real ramp: the first update is well below the target
    assert seen[-1][1] == pytest.approx(0.9, abs=1e-5) and pruner.sparsity() == pytest.approx(0.9, abs=1e-5)


def test_gradual_pruning_needs_two_steps():
    with pytest.raises(ValueError, match="gradual pruning needs at least 2 optimizer steps"):
        prune_and_finetune(LeNet300(), PruneConfig(sparsity=0.8), _tiny_data(32), TrainConfig(epochs=1, batch_size=64),
                           schedule="gradual")
