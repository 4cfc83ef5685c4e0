"""Tests of companion.pruning and companion.sparse: masks, schedule, OBD, storage, kernels."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.utils import prune as torch_prune

from companion.measure import count_macs, count_params
from companion.models import LeNet5, LeNet300, ResNetSmall
from companion.pruning import (GradualConfig, LotteryConfig, PruneConfig, Pruner, gauss_newton_diagonal, global_masks,
                               layer_sensitivity, lottery_ticket, magnitude_mask, obd_saliency, polynomial_sparsity,
                               prune_, prune_and_finetune, score_mask, sparsity_of)
from companion.sparse import (SparseLinear, decode_relative, encode_relative, load_sparse, pack_bits, save_sparse,
                              to_sparse_linear, unpack_bits)
from companion.structured import FilterPruneConfig, channel_counts, filters_to_remove, l1_filter_norms, prune_filters
from companion.train import TrainConfig, fit


# ---------------------------------------------------------------- masks
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9, 0.98])
def test_magnitude_mask_matches_torch_prune(sparsity):
    torch.manual_seed(0)
    layer = nn.Linear(37, 23)
    ours = magnitude_mask(layer.weight, sparsity)
    torch_prune.l1_unstructured(layer, "weight", amount=sparsity)
    assert torch.equal(ours, layer.weight_mask.bool())


@pytest.mark.parametrize("shape", [(10,), (7, 13), (4, 3, 5, 5)])
@pytest.mark.parametrize("sparsity", [0.0, 0.25, 0.5, 0.75, 0.99])
def test_mask_sparsity_is_exact(shape, sparsity):
    w = torch.randn(shape)
    mask = magnitude_mask(w, sparsity)
    assert mask.shape == w.shape and mask.dtype == torch.bool
    assert int((~mask).sum()) == round(sparsity * w.numel())


def test_ties_are_broken_by_index():
    mask = magnitude_mask(torch.ones(2, 4), 0.5)
    assert mask.flatten().tolist() == [False] * 4 + [True] * 4
    mask = magnitude_mask(torch.tensor([3.0, -1.0, 1.0, 2.0, 1.0]), 0.4)
    assert mask.tolist() == [True, False, False, True, True]


def test_global_masks_match_torch_global_unstructured():
    torch.manual_seed(1)
    model = LeNet300()
    scores = {n: getattr(model, n).weight.abs() for n in ("fc1", "fc2", "fc3")}
    ours = global_masks(scores, 0.8)
    torch_prune.global_unstructured([(getattr(model, n), "weight") for n in scores],
                                    pruning_method=torch_prune.L1Unstructured, amount=0.8)
    for n in scores:
        assert torch.equal(ours[n], getattr(model, n).weight_mask.bool())
    assert sparsity_of(ours) == pytest.approx(0.8, abs=1e-5)


def test_obd_saliency_hand_case():
    w, h = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([4.0, 1.0, 0.0])
    assert obd_saliency(w, h).tolist() == [2.0, 2.0, 0.0]
    assert score_mask(obd_saliency(w, h), 1 / 3).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="shape"):
        obd_saliency(w, torch.ones(2))


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


# ---------------------------------------------------------------- bad settings
@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1])
def test_bad_sparsity_raises(bad):
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        PruneConfig(sparsity=bad)
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        magnitude_mask(torch.randn(4, 4), bad)
    with pytest.raises(ValueError, match=r"final_sparsity must be in \[0, 1\)"):
        polynomial_sparsity(0, bad, 0, 10)


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


# ---------------------------------------------------------------- OBD's Hessian diagonal
def test_gauss_newton_diagonal_of_logistic_regression_is_analytic():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    x = torch.randn(9, 1, 3, 4)
    h = gauss_newton_diagonal(model, x)["1"]
    p = torch.softmax(model(x), -1)
    expected = (p * (1 - p)).T @ x.flatten(1) ** 2 / len(x)  # diag of the exact Hessian for a linear model
    torch.testing.assert_close(h, expected, rtol=1e-5, atol=1e-7)


def test_gauss_newton_diagonal_matches_per_sample_autograd_on_a_conv_net():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    x = torch.randn(6, 1, 8, 8)
    ours = gauss_newton_diagonal(model, x)
    params = {k: v.detach() for k, v in model.named_parameters()}
    def logp(p, xi, c):
        return torch.log_softmax(functional_call(model, p, (xi[None],)), -1)[0, c]
    probs = torch.softmax(model(x), -1).detach()
    ref = {k: torch.zeros_like(v) for k, v in params.items()}
    for c in range(5):
        g = vmap(grad(logp), in_dims=(None, 0, None))(params, x, c)
        for k in ref:
            ref[k] += torch.einsum("n,n...->...", probs[:, c], g[k] ** 2) / len(x)
    torch.testing.assert_close(ours["0"], ref["0.weight"], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(ours["3"], ref["3.weight"], rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------- sparse storage
def test_relative_indices_hand_case_with_fillers():
    flat = torch.zeros(24)
    flat[2], flat[20] = 1.5, -2.0
    rel, values = encode_relative(flat, 3)  # gaps: 2, then 17 zeros > 7 → two fillers of 8 positions
    assert rel.tolist() == [2, 7, 7, 1]
    assert values.tolist() == [1.5, 0.0, 0.0, -2.0]
    assert torch.equal(decode_relative(rel, values, 24), flat)


@pytest.mark.parametrize("bits", [1, 3, 5, 8, 12])
def test_relative_round_trip_random(bits):
    g = torch.Generator().manual_seed(bits)
    flat = torch.randn(5000, generator=g) * (torch.rand(5000, generator=g) < 0.05)
    rel, values = encode_relative(flat, bits)
    assert rel.max() < 2 ** bits
    assert torch.equal(decode_relative(unpack_bits(pack_bits(rel, bits), bits, len(rel)), values, 5000), flat)


def test_pack_bits_hand_case_and_errors():
    assert pack_bits(np.array([1, 2, 3]), 2) == bytes([0b01101100])
    assert unpack_bits(bytes([0b01101100]), 2, 3).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="must be in"):
        pack_bits(np.array([4]), 2)
    with pytest.raises(ValueError, match="index_bits must be an integer in"):
        encode_relative(torch.ones(3), 0)


@pytest.mark.parametrize("make", [LeNet300, LeNet5, lambda: ResNetSmall(width=8)])
def test_sparse_file_round_trips_to_identical_weights(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    prune_(model, PruneConfig(sparsity=0.9))
    path = save_sparse(model, tmp_path / "m.cspz")
    loaded = load_sparse(path)
    original = model.state_dict()
    assert list(loaded) == list(original)
    for k in original:
        assert loaded[k].dtype == original[k].dtype and torch.equal(loaded[k], original[k]), k
    clone = make()
    clone.load_state_dict(loaded)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(clone.eval()(x), model.eval()(x))


def test_sparse_file_is_smaller_at_high_sparsity_and_dense_when_not(tmp_path):
    torch.manual_seed(0)
    dense = LeNet300()
    path = save_sparse(dense, tmp_path / "dense.cspz")
    assert path.stat().st_size < 1.01 * 266_610 * 4  # nothing shrinks: stored dense, small header
    prune_(dense, PruneConfig(sparsity=0.95))
    small = save_sparse(dense, tmp_path / "sparse.cspz").stat().st_size
    assert small < 266_610 * 4 / 8


def test_load_sparse_rejects_other_files(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"a": torch.ones(2)}, bad)
    with pytest.raises(ValueError, match="not a sparse model file"):
        load_sparse(bad)


# ---------------------------------------------------------------- sparse kernels
def test_sparse_linear_matches_dense():
    torch.manual_seed(0)
    model = LeNet300()
    prune_(model, PruneConfig(sparsity=0.9))
    sparse = to_sparse_linear(model)
    assert isinstance(sparse.fc1, SparseLinear) and isinstance(model.fc1, nn.Linear)
    x = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(sparse(x), model.eval()(x), rtol=1e-5, atol=1e-5)


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


def test_lottery_ticket_rewinds_to_the_initial_weights():
    def make(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    init = make(0).state_dict()
    starts = []
    def train_fn(model, pruner):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        fit(model, _tiny_data(64), TrainConfig(epochs=1, batch_size=32), device="cpu", step_callback=pruner)
    rows = lottery_ticket(make, train_fn, lambda m: 0.1, LotteryConfig(rounds=2, rate=0.5), seed=0)
    assert [r["round"] for r in rows] == [0, 1, 2] and rows[0]["reinit_accuracy"] is None
    assert rows[1]["sparsity"] == pytest.approx((0.5 * 784 * 32 + 0.25 * 320) / (784 * 32 + 320), abs=1e-4)
    assert rows[2]["sparsity"] > rows[1]["sparsity"]
    ticket, reinit = starts[1], starts[2]  # round 1: ticket first, then the random re-init
    kept = ticket["1.weight"] != 0
    assert torch.equal(ticket["1.weight"][kept], init["1.weight"][kept])  # survivors rewound to θ₀
    assert torch.equal(reinit["1.weight"] != 0, kept) and not torch.equal(reinit["1.weight"], ticket["1.weight"])
    with pytest.raises(ValueError, match=r"rate must be in \(0, 1\)"):
        LotteryConfig(rate=1.0)


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
