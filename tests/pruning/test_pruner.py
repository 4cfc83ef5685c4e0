"""The pruner and its schedules: masks stay applied, the gradual ramp, seeded criteria."""
import pytest
import torch

from companion.models import LeNet300
from companion.pruning import GradualConfig, PruneConfig, Pruner, polynomial_sparsity, prune_
from companion.train import TrainConfig, fit


# ---------------------------------------------------------------- schedule
def test_polynomial_schedule_endpoints_and_shape():
    kw = dict(final_sparsity=0.9, begin_step=10, end_step=110, initial_sparsity=0.1)
    assert polynomial_sparsity(0, **kw) == pytest.approx(0.1)
    assert polynomial_sparsity(10, **kw) == pytest.approx(0.1)
    assert polynomial_sparsity(110, **kw) == pytest.approx(0.9)
    assert polynomial_sparsity(500, **kw) == pytest.approx(0.9)
    assert polynomial_sparsity(60, **kw) == pytest.approx(0.9 - 0.8 * 0.5 ** 3)
    values = [polynomial_sparsity(t, **kw) for t in range(0, 120)]
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="criterion must be one of"):
        PruneConfig(criterion="taylor")
    with pytest.raises(ValueError, match="scope must be one of"):
        PruneConfig(scope="channel")
    with pytest.raises(ValueError, match=r"no prunable layer \['fc9'\].*prunable layers: fc1, fc2, fc3"):
        prune_(LeNet300(), PruneConfig(layers=("fc9",)))
    with pytest.raises(ValueError, match="needs hessian"):
        Pruner(LeNet300(), PruneConfig(criterion="obd"))
    with pytest.raises(ValueError, match="begin_step < end_step"):
        GradualConfig(begin_step=5, end_step=5)
    with pytest.raises(ValueError, match="begin_step < end_step"):
        polynomial_sparsity(0, 0.5, 10, 3)


# ---------------------------------------------------------------- the pruner
def _tiny_data(n=128):
    g = torch.Generator().manual_seed(0)
    return torch.utils.data.TensorDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_one_shot_masks_stay_applied_through_training(scope):
    torch.manual_seed(0)
    model = LeNet300()
    pruner = prune_(model, PruneConfig(sparsity=0.75, scope=scope))
    assert pruner.sparsity() == pytest.approx(0.75, abs=1e-5)
    before = {n: m.clone() for n, m in pruner.masks.items()}
    fit(model, _tiny_data(), TrainConfig(epochs=1, batch_size=32), device="cpu", step_callback=pruner)
    assert pruner.sparsity() == pytest.approx(0.75, abs=1e-5)
    for n, layer in pruner.layers.items():
        assert torch.equal(layer.weight != 0, before[n])
    if scope == "layer":
        assert all(s == pytest.approx(0.75, abs=1e-3) for s in pruner.layer_sparsity().values())


def test_gradual_pruning_follows_the_schedule():
    torch.manual_seed(0)
    model = LeNet300()
    pruner = Pruner(model, PruneConfig(sparsity=0.9), GradualConfig(begin_step=0, end_step=6, frequency=2))
    seen, masks = [], []
    def callback(m, step):
        pruner(m, step)
        seen.append(pruner.sparsity())
        masks.append({n: k.clone() for n, k in pruner.masks.items()})
    fit(model, _tiny_data(), TrainConfig(epochs=2, batch_size=32), device="cpu", step_callback=callback)
    assert seen[0] == 0.0  # step 1: no update yet
    assert seen[1] == pytest.approx(polynomial_sparsity(2, 0.9, 0, 6), abs=1e-4)
    assert seen[-1] == pytest.approx(0.9, abs=1e-5)
    assert all(b >= a - 1e-9 for a, b in zip(seen, seen[1:]))
    for earlier, later in zip(masks, masks[1:]):  # a pruned weight never comes back
        assert all(not (later[n] & ~earlier[n]).any() for n in earlier)


def test_random_criterion_is_seeded_and_obd_uses_the_hessian():
    a, b = LeNet300(), LeNet300()
    b.load_state_dict(a.state_dict())
    ma = prune_(a, PruneConfig(sparsity=0.5, criterion="random", seed=3)).masks
    mb = prune_(b, PruneConfig(sparsity=0.5, criterion="random", seed=3)).masks
    assert all(torch.equal(ma[n], mb[n]) for n in ma)
    model = LeNet300()
    hess = {n: torch.ones_like(getattr(model, n).weight) for n in ("fc1", "fc2", "fc3")}
    hess["fc3"][0, :] = 0.0  # zero curvature: OBD prunes these first, magnitude would not
    masks = prune_(model, PruneConfig(sparsity=0.1, criterion="obd"), hessian=hess).masks
    assert not masks["fc3"][0].any()


def test_lowering_the_sparsity_never_revives_pruned_weights():
    """Bug 1 (issue 11): masks are monotone. Pruning at 0.9 then at 0.5 keeps the 0.9 zeros, and
    fine-tuning with the pruner as step callback does not bring them back."""
    torch.manual_seed(0)
    model = LeNet300()
    pruner = prune_(model, PruneConfig(sparsity=0.9))
    first = {n: m.clone() for n, m in pruner.masks.items()}
    pruner.prune_(0.5)
    for n in first:
        assert not (pruner.masks[n] & ~first[n]).any(), n  # nothing re-enabled
    assert pruner.sparsity() == pytest.approx(0.9, abs=1e-5)
    fit(model, _tiny_data(), TrainConfig(epochs=1, batch_size=32), device="cpu", step_callback=pruner)
    for n, layer in pruner.layers.items():
        assert not (layer.weight[~first[n]] != 0).any(), n
    assert pruner.sparsity() == pytest.approx(0.9, abs=1e-5)
