"""Weight sharing: quantization by clustering instead of a uniform grid.

- **Scalar k-means** (Gong et al. 2014; Han, Mao & Dally 2016): the weights of a layer are
  clustered into ``k`` centroids; each weight stores a ``log2 k``-bit index into the codebook.
  The grid adapts to the weight distribution, so 3–5 bits keep accuracy where a uniform grid fails.
  Fine-tuning the shared centroids (Han et al.'s *trained quantization*) recovers the rest.
- **Product quantization** (Gong et al. 2014; Jégou et al. 2011): the rows of a fully connected
  weight are cut into sub-vectors of ``d`` entries, clustered per segment; one ``log2 k``-bit code
  then stands for ``d`` weights, so the code costs ``log2 k / d`` bits per weight.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..io import torch_save_atomic
from ..layers import WEIGHTED, find_layers

KMEANS_INITS = ("linear", "random")


def kmeans(x: torch.Tensor, k: int, iters: int = 30, init: str = "linear", seed: int = 0):
    """Lloyd's k-means of the rows of ``x`` (N, D): ``(centroids (k, D), labels (N,))``.

    ``init="linear"`` spaces the centroids evenly between the per-dimension min and max (the
    best initialisation in Deep Compression, Han et al. 2016, §3.2); ``"random"`` picks ``k`` rows
    (Forgy) among the *distinct* rows, so no two start on the same point. Minimises
    ``Σ_i ‖x_i − c_{label_i}‖²``; an empty cluster keeps its centroid. At convergence every row is
    labelled with its nearest centroid and every non-empty centroid is the mean of its rows.
    """
    if x.dim() != 2:
        raise ValueError(f"need x of shape (N, D), got {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError("k-means needs at least one row, got an empty x (an all-zero layer has nothing to share)")
    if not 1 <= k <= len(x):
        raise ValueError(f"need 1 <= k <= N = {len(x)}, got k={k}")
    if init not in KMEANS_INITS:
        raise ValueError(f"init must be one of {KMEANS_INITS}, got {init!r}")
    x = x.detach().float()
    if init == "linear":
        t = torch.linspace(0, 1, k, device=x.device)[:, None]
        centroids = x.amin(0) + t * (x.amax(0) - x.amin(0))
    else:
        g = torch.Generator().manual_seed(seed)
        distinct = torch.unique(x, dim=0)
        pool = distinct if len(distinct) >= k else x
        centroids = pool[torch.randperm(len(pool), generator=g)[:k].to(x.device)].clone()
    for _ in range(iters):
        labels = torch.cdist(x, centroids).argmin(1)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)[:, None]
        new = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        if torch.equal(new, centroids):
            break
        centroids = new
    return centroids, torch.cdist(x, centroids).argmin(1)


def share_weights(weight: torch.Tensor, clusters: int, mask: torch.Tensor | None = None, iters: int = 30):
    """Scalar weight sharing: ``(codebook (clusters,), indices)`` with ``weight ≈ codebook[indices]``.

    Only the weights where ``mask`` is true (the unpruned ones) are clustered; their index is
    meaningful only there. Gong et al. 2014 (scalar k-means), Han et al. 2016 (linear init).
    A layer with no weight left (all zero, or an empty mask) has nothing to cluster: its codebook is
    empty and every index 0.
    """
    mask = weight != 0 if mask is None else mask.bool()
    values = weight.detach()[mask].reshape(-1, 1)
    if len(values) == 0:
        return weight.new_zeros(0, dtype=torch.float32), torch.zeros(weight.shape, dtype=torch.long,
                                                                      device=weight.device)
    centroids, labels = kmeans(values, min(clusters, len(values)), iters, init="linear")
    indices = torch.zeros(weight.shape, dtype=torch.long, device=weight.device)
    indices[mask] = labels
    return centroids.flatten(), indices


class SharedWeight(nn.Module):
    """Parametrization ``w = mask ⊙ centroids[indices]``: training updates only the shared centroids.

    The gradient of a centroid is the sum of the gradients of the weights that share it
    (Han et al. 2016, eq. 3): autograd's gather backward computes exactly that.
    """

    def __init__(self, centroids: torch.Tensor, indices: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.centroids = nn.Parameter(centroids.detach().clone())
        self.register_buffer("indices", indices)
        self.register_buffer("mask", mask.bool())

    def forward(self, _weight: torch.Tensor) -> torch.Tensor:
        if self.centroids.numel() == 0:  # an all-zero layer: nothing shared, nothing to train
            return torch.zeros(self.mask.shape, device=self.mask.device) + 0 * self.centroids.sum()
        return torch.where(self.mask, self.centroids[self.indices], torch.zeros((), device=self.mask.device))

    def codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(codebook, codes)`` for storage: the codebook with the zero in front (``k + 1`` float32 entries),
        the codes ``0`` for a zero (pruned) weight and ``1 + i`` for ``centroids[i]``, in the smallest
        unsigned integer type that holds them (``uint8`` up to 255 centroids)."""
        codebook = torch.cat([torch.zeros(1), self.centroids.detach().float().cpu()])
        codes = torch.where(self.mask, self.indices + 1, torch.zeros((), dtype=torch.long, device=self.mask.device))
        dtype = torch.uint8 if len(codebook) <= 256 else torch.int16 if len(codebook) <= 1 << 15 else torch.int32
        return codebook, codes.cpu().to(dtype)


def share_model_weights_(model: nn.Module, clusters: int, layers=None) -> dict[str, SharedWeight]:
    """Replace the weight of every Linear/Conv2d (or those named in ``layers``) by its k-means
    sharing, in place; zeros stay zero. Returns the :class:`SharedWeight` of each layer by name."""
    found = find_layers(model, WEIGHTED, layers)
    shared = {}
    for name in found:
        w = found[name].weight
        codebook, indices = share_weights(w, clusters)
        shared[name] = SharedWeight(codebook, indices, w.detach() != 0)
        parametrize.register_parametrization(found[name], "weight", shared[name], unsafe=True)
    return shared


def shared_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """What a weight-shared model must store: for each :class:`SharedWeight` layer ``<name>.codebook`` and
    ``<name>.indices`` (:meth:`SharedWeight.codes`) instead of the weight; every other tensor as is. The
    model's own ``state_dict`` also holds the dense original, int64 indices and a mask (≈ 3× the dense
    size), so sizes of shared models come from this export (:func:`save_shared`), not from the module."""
    state = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight") and isinstance(module.parametrizations.weight[0],
                                                                         SharedWeight):
            prefix = f"{name}." if name else ""
            state[prefix + "codebook"], state[prefix + "indices"] = module.parametrizations.weight[0].codes()
    skip = tuple(f"{k.removesuffix('codebook')}parametrizations." for k in state if k.endswith("codebook"))
    for key, value in model.state_dict().items():
        if not key.startswith(skip):
            state[key] = value.detach().cpu()
    return state


def save_shared(model: nn.Module, path):
    """``torch.save`` :func:`shared_state_dict` of ``model`` (codebooks and integer indices); returns the path."""
    return torch_save_atomic(shared_state_dict(model), path)


def load_shared(path) -> dict[str, torch.Tensor]:
    """A :func:`save_shared` file as a plain ``state_dict``: each ``<name>.weight = codebook[indices]``."""
    state = torch.load(path, weights_only=True)
    out = {}
    for key, value in state.items():
        if key.endswith("codebook"):
            prefix = key.removesuffix("codebook")
            out[prefix + "weight"] = value[state[prefix + "indices"].long()]
        elif not key.endswith("indices"):
            out[key] = value
    return out


def product_quantize(weight: torch.Tensor, sub_dim: int, clusters: int, iters: int = 30, seed: int = 0):
    """Product quantization of a (out, in) matrix (Gong et al. 2014): ``(codebooks (m, k, d), codes (out, m))``.

    The input dimension is cut into ``m = ⌈in / d⌉`` segments of ``d = sub_dim`` columns (the last
    zero-padded); in each, the ``out`` row pieces are clustered into ``k`` centroids.
    """
    if weight.dim() != 2 or sub_dim < 1:
        raise ValueError(f"need a 2-D weight and sub_dim >= 1, got {tuple(weight.shape)}, {sub_dim}")
    out, inp = weight.shape
    w = nn.functional.pad(weight.detach().float(), (0, -inp % sub_dim))
    pieces = w.reshape(out, -1, sub_dim).transpose(0, 1)  # (m, out, d)
    books, codes = zip(*(kmeans(p, min(clusters, out), iters, "random", seed) for p in pieces))
    return torch.stack(books), torch.stack(codes, 1)


def pq_reconstruct(codebooks: torch.Tensor, codes: torch.Tensor, in_features: int) -> torch.Tensor:
    """The (out, in) matrix of a product quantization: row ``i``, segment ``j`` is ``codebooks[j, codes[i, j]]``."""
    m = torch.arange(codebooks.shape[0], device=codes.device)
    return codebooks[m, codes].reshape(len(codes), -1)[:, :in_features]


@torch.no_grad()
def product_quantize_model_(model: nn.Module, sub_dim: int, clusters: int, layers=None) -> dict:
    """Product-quantize the weight of every ``nn.Linear`` (or those named in ``layers``) in place.

    Each weight ``W`` (out, in) is quantized as ``Wᵀ``: a sub-vector is the weights of ``d``
    consecutive output units from one input, so ``in`` vectors share ``k`` centroids per segment
    (more vectors than centroids even for LeNet's 300-unit layers). Returns ``{name: (codebooks, codes)}``.
    """
    found = find_layers(model, (nn.Linear,), layers)
    pq = {}
    for name in found:
        w = found[name].weight
        books, codes = product_quantize(w.T, sub_dim, clusters)
        w.copy_(pq_reconstruct(books, codes, w.shape[0]).T)
        pq[name] = (books, codes)
    return pq


def save_pq(model: nn.Module, pq: dict, path):
    """``torch.save`` a product-quantized model: per PQ layer the float32 codebooks and the codes
    as ``uint8`` (``k ≤ 256``), every other tensor of the ``state_dict`` as is. Returns the path."""
    state = {k: v for k, v in model.state_dict().items() if k.removesuffix(".weight") not in pq}
    for name, (books, codes) in pq.items():
        if books.shape[1] > 256:
            raise ValueError(f"layer {name}: {books.shape[1]} clusters do not fit uint8 codes (at most 256)")
        state[f"{name}.codebooks"], state[f"{name}.codes"] = books.float(), codes.to(torch.uint8)
    return torch_save_atomic(state, path)
