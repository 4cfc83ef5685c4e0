"""The sparse file (relative indices) and the CSR kernel."""
import pytest
import torch
from torch import nn

from companion.models import LeNet5, LeNet300, ResNetSmall
from companion.pruning import PruneConfig, SparseLinear, load_sparse, prune_, save_sparse, to_sparse_linear


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
