"""Pruning masks and criteria: exact sparsity, ties, agreement with torch.nn.utils.prune."""
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from companion.models import LeNet300
from companion.pruning import PruneConfig, global_masks, magnitude_mask, polynomial_sparsity, sparsity_of


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


# ---------------------------------------------------------------- bad settings
@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1])
def test_bad_sparsity_raises(bad):
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        PruneConfig(sparsity=bad)
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
        magnitude_mask(torch.randn(4, 4), bad)
    with pytest.raises(ValueError, match=r"final_sparsity must be in \[0, 1\)"):
        polynomial_sparsity(0, bad, 0, 10)
