"""Fixtures of the binarization tests: random ±1 tensors and a BinaryNet with non-trivial batch-norm statistics."""
import pytest
import torch

from companion.binarization import BinarizeConfig, BinaryNet


def _pm1(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, shape, generator=g).float() * 2 - 1


def _trained_like(method="bnn", channels=(70, 66), hidden=64, negative_gamma=True, **kw):
    """A BinaryNet in eval mode whose batch norms look trained: shifted means, spread variances and scales
    (some negative, so folded thresholds flip)."""
    with torch.random.fork_rng():
        torch.manual_seed(1)
        model = BinaryNet(BinarizeConfig(method, **kw), channels=channels, hidden=hidden)
        with torch.no_grad():
            for bn in (model.bn1, model.bn2, model.bn3):
                bn.running_mean.uniform_(-3, 3)
                bn.running_var.uniform_(0.5, 20.0)
                bn.weight.uniform_(-1.5 if negative_gamma else 0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.fixture
def pm1():
    """``pm1(*shape, seed=0)``: a random ±1 float tensor from its own generator."""
    return _pm1


@pytest.fixture
def trained_like():
    """``trained_like(method, channels=, hidden=, **config)``: a BinaryNet with trained-looking batch norms."""
    return _trained_like
