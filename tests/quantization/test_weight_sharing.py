"""companion.quantization.weight_sharing: k-means, shared weights with trainable centroids, product quantization."""
import pytest
import torch
from torch import nn

from companion.quantization.weight_sharing import (kmeans, pq_reconstruct, product_quantize, share_model_weights_,
                                                   share_weights)


def test_kmeans_finds_known_clusters():
    x = torch.tensor([[0.0], [0.1], [0.2], [5.0], [5.1], [9.9], [10.0], [10.1]])
    centroids, labels = kmeans(x, 3)
    assert torch.allclose(centroids.flatten(), torch.tensor([0.1, 5.05, 10.0]))
    assert labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]


def test_kmeans_random_init_2d():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    centroids, labels = kmeans(x, 2, init="random")
    assert torch.allclose(centroids[centroids[:, 0].argsort()], centres, atol=0.1)
    assert len(set(labels[:50].tolist())) == 1 and len(set(labels[50:].tolist())) == 1


def test_kmeans_bad_arguments():
    with pytest.raises(ValueError, match="k <= N"):
        kmeans(torch.zeros(3, 1), 5)
    with pytest.raises(ValueError, match="needs at least one row"):
        kmeans(torch.zeros(0, 1), 1)
    with pytest.raises(ValueError, match="init must be one of"):
        kmeans(torch.zeros(3, 1), 2, init="kmeans++")


def test_share_weights_keeps_zeros_and_uses_k_values():
    w = torch.randn(20, 30, generator=torch.Generator().manual_seed(0))
    w[w.abs() < 0.5] = 0
    codebook, indices = share_weights(w, 4)
    shared = torch.where(w != 0, codebook[indices], torch.zeros(()))
    assert len(codebook) == 4 and torch.equal(shared == 0, w == 0)
    assert len(torch.unique(shared[shared != 0])) <= 4


def test_centroid_gradient_is_the_sum_of_shared_gradients():
    model = nn.Sequential(nn.Linear(6, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 1.1, 0.0, 5.0, 5.1, 0.9]] * 3))
    shared = share_model_weights_(model, 2)["0"]
    x = torch.randn(4, 6)
    model(x).sum().backward()
    # d/dw_ij of sum(x W^T) is sum_n x_nj; a centroid collects the weights that share it (zeros excluded)
    per_weight = x.sum(0).expand(3, 6) * (shared.mask)
    expected = torch.zeros(2).index_add_(0, shared.indices[shared.mask], per_weight[shared.mask])
    assert torch.allclose(shared.centroids.grad, expected, atol=1e-5)


def test_product_quantization_roundtrip_and_exactness():
    g = torch.Generator().manual_seed(0)
    protos = torch.randn(4, 3, generator=g)
    w = torch.cat([protos[torch.randint(0, 4, (10,), generator=g)] for _ in range(2)], dim=1)[:, :5]  # (10, 5)
    books, codes = product_quantize(w, sub_dim=3, clusters=4)
    assert books.shape == (2, 4, 3) and codes.shape == (10, 2)
    assert pq_reconstruct(books, codes, 5).shape == w.shape
    # 10 rows made of 4 prototypes per segment: 4 centroids (fewer than the rows) reconstruct them exactly,
    # because Forgy's init picks distinct rows
    books, codes = product_quantize(w, sub_dim=3, clusters=4)
    assert torch.allclose(pq_reconstruct(books, codes, 5), w)


def _brute_force_invariants(x, centroids, labels):
    """Lloyd's fixed point, checked by brute force: every row at its nearest centroid, every
    non-empty centroid the mean of its rows."""
    d = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)  # (N, k), no cdist
    assert torch.allclose(d[torch.arange(len(x)), labels], d.min(1).values, atol=1e-6)
    for j in range(len(centroids)):
        members = x[labels == j]
        if len(members):
            assert torch.allclose(centroids[j], members.mean(0), atol=1e-5)


@pytest.mark.parametrize("init", ["linear", "random"])
@pytest.mark.parametrize("dim", [1, 3])
def test_kmeans_reaches_lloyds_fixed_point(init, dim):
    x = torch.randn(300, dim, generator=torch.Generator().manual_seed(dim))
    centroids, labels = kmeans(x, 8, iters=200, init=init)
    _brute_force_invariants(x, centroids, labels)
    # a random assignment with the same centroids breaks the first invariant
    wrong = torch.randint(0, 8, (300,), generator=torch.Generator().manual_seed(9))
    d = ((x[:, None, :] - centroids[None]) ** 2).sum(-1)
    assert not torch.allclose(d[torch.arange(300), wrong], d.min(1).values)


def test_kmeans_empty_cluster_keeps_its_centroid():
    x = torch.tensor([[0.0], [0.0], [0.1], [10.0]])
    centroids, labels = kmeans(x, 3)  # linear init 0, 5, 10: nothing is nearest to 5
    assert centroids.flatten().tolist() == pytest.approx([0.1 / 3, 5.0, 10.0])
    assert 1 not in labels.tolist()
    _brute_force_invariants(x, centroids, labels)


def test_kmeans_is_exact_when_there_are_k_distinct_values_among_many():
    x = torch.tensor([-1.0, 0.25, 2.0, 3.5]).repeat(50)[:, None]  # N = 200 rows, 4 values
    centroids, labels = kmeans(x, 4)
    assert torch.equal(centroids[labels], x)


def test_share_weights_clusters_nonzeros_at_their_nearest_centroid():
    w = torch.randn(40, 30, generator=torch.Generator().manual_seed(3))
    w[w.abs() < 0.3] = 0
    codebook, indices = share_weights(w, 8, iters=100)
    mask = w != 0
    _brute_force_invariants(w[mask][:, None], codebook[:, None], indices[mask])
