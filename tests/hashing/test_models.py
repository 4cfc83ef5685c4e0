"""The protocol's networks: equal storage across methods, RER's real bytes, bad input."""
import io

import pytest
import torch

from companion.hashing import KINDS, build, compact_rer, equal_hidden, hashed_budget, stored_params


@pytest.mark.parametrize("compression", [1 / 8, 1 / 64])
def test_every_compressed_kind_stores_about_the_hashnet_budget(compression):
    budget = hashed_budget(compression)
    for kind in ("hashed", "equal", "rer", "lowrank"):
        n = stored_params(build(kind=kind, compression=compression))
        assert 0.85 * budget <= n <= 1.02 * budget, (kind, n, budget)
    assert stored_params(build(kind="dense")) == 266_610


def test_equal_net_at_one_sixty_fourth_is_capacity_starved():
    assert equal_hidden(hashed_budget(1 / 64)) == [5, 2]


def test_rer_mask_is_fixed_and_keeps_k_connections():
    a, b = build(kind="rer", compression=1 / 8), build(kind="rer", compression=1 / 8)
    assert torch.equal(a.layers[0].mask, b.layers[0].mask) and int(a.layers[0].mask.sum()) == round(784 * 300 / 8)
    x = torch.randn(3, 1, 28, 28)
    a(x).sum().backward()
    assert torch.all(a.layers[0].weight.grad[a.layers[0].mask == 0] == 0)
    buf = io.BytesIO()
    torch.save(compact_rer(a), buf)
    assert len(buf.getvalue()) >= 8 * sum(int(m.mask.sum()) for m in a.layers)  # values and positions


def test_build_outputs_logits_for_every_kind():
    for kind in KINDS:
        assert build(kind=kind, compression=1 / 8)(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("kwargs, match", [(dict(kind="pruned"), "kind"), (dict(compression=2.0), "compression"),
                                           (dict(hidden=[]), "hidden"), (dict(hidden=[0, 3]), "hidden")])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)
