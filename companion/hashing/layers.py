"""HashedNets layers (Chen et al. 2015): a virtual weight matrix V[i, j] = ξ(i, j) · w[h(i, j)] filled from K real
weights by the seeded hash of :mod:`.hash`; biases are not hashed (the default ``hbias=false`` of the authors' code).

Three ways to run the forward pass, all giving the same output (``MODES``):

- ``"decompress"``: materialise V once and keep it (dense memory and dense speed); rebuilt when w changes;
- ``"gather"``: keep the index table h and the signs ξ, and compute ``w[h] · ξ`` at every call;
- ``"rehash"``: keep nothing, recompute the hash at every call (the smallest memory, the most work).

The index table is a buffer with ``persistent=False``: a file holds only the K real weights, the bias and a
three-integer key (seed, layer, hash version) from which everything else is recomputed. ``persist_index=True`` shows the trap:
``state_dict`` then holds an int64 per virtual weight, a file twice the size of the dense layer.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .hash import HASH_VERSION, check_buckets, index_and_sign

MODES = ("decompress", "gather", "rehash")


def buckets_for(virtual: int, compression: float) -> int:
    """K = max(1, round(compression · virtual)): the real weights of a layer with ``virtual`` virtual ones."""
    if isinstance(compression, bool) or not isinstance(compression, (int, float)) or not 0 < compression <= 1:
        raise ValueError(f"compression must be a fraction in (0, 1], got {compression!r}")
    return max(1, round(compression * virtual))


class HashedWeight(nn.Module):
    """K real weights seen as a ``shape`` virtual tensor (rows = shape[0], columns = the rest, row-major)."""

    def __init__(self, shape: tuple[int, ...], buckets: int, seed: int = 0, layer: int = 0, mode: str = "gather",
                 sign: bool = True, persist_index: bool = False, fan_in: int | None = None):
        super().__init__()
        check_buckets(buckets)
        if len(shape) < 2 or min(shape) < 1:
            raise ValueError(f"a hashed weight needs a shape of >= 2 positive dimensions, got {tuple(shape)}")
        self.shape, self.buckets, self.use_sign = tuple(shape), buckets, sign
        self.rows, self.cols = shape[0], math.prod(shape[1:])
        bound = 1 / math.sqrt(fan_in or self.cols)  # nn.Linear's default range, so V starts like a dense layer
        self.weight = nn.Parameter(torch.empty(buckets).uniform_(-bound, bound))
        # (seed, layer, hash version): 24 bytes in the file, all that is needed to rebuild the tables
        self.register_buffer("key", torch.tensor([seed, layer, HASH_VERSION], dtype=torch.int64))
        self.register_buffer("index", torch.empty(0, dtype=torch.int64), persistent=persist_index)
        self.register_buffer("sign", torch.empty(0), persistent=False)
        self._cache, self._cache_version = None, None
        self.mode = mode
        self.register_load_state_dict_post_hook(lambda module, _keys: module.rebuild())

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        self._mode = value
        self.rebuild()

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, ξ) recomputed from the key: int64 and float32, each rows×cols."""
        seed, layer, version = (int(v) for v in self.key.tolist())
        if version != HASH_VERSION:
            raise ValueError(f"these weights were saved under hash version {version}, this code computes version "
                             f"{HASH_VERSION}: the buckets would not match (retrain, or use the matching code)")
        h, xi = index_and_sign(self.rows, self.cols, self.buckets, seed, layer)
        return h.to(self.weight.device), (xi if self.use_sign else torch.ones_like(xi)).to(self.weight.device)

    def rebuild(self) -> None:
        """Recompute what the mode keeps in memory (after a mode change or loading a state dict)."""
        self._cache = None
        keep = self._mode == "gather" or "index" in self._persistent_names()
        h, xi = self.tables() if keep else (torch.empty(0, dtype=torch.int64), torch.empty(0))
        self.index, self.sign = h, xi

    def _persistent_names(self) -> set[str]:
        return {n for n in self._buffers if n not in self._non_persistent_buffers_set}

    def materialise(self) -> torch.Tensor:
        """V = ξ ⊙ w[h] with the virtual ``shape``; differentiable in w (autograd sums the shared gradients)."""
        if self._mode == "rehash" or self.index.numel() == 0:
            h, xi = self.tables()
        else:
            h, xi = self.index, self.sign
        return (self.weight[h] * xi).reshape(self.shape)

    def forward(self) -> torch.Tensor:
        return self.current()

    def current(self) -> torch.Tensor:
        """V as the mode provides it (called directly by the layers: no module-call overhead per forward)."""
        w = self._parameters["weight"]
        if self._mode != "decompress" or (w.requires_grad and torch.is_grad_enabled()):
            return self.materialise()  # training: a fresh graph every call
        version = (w._version, w.data_ptr())
        if self._cache is None or self._cache_version != version:
            with torch.no_grad():
                self._cache = self.materialise()
            self._cache_version = version
        return self._cache

    def extra_repr(self) -> str:
        return f"virtual={self.shape}, K={self.buckets}, mode={self._mode!r}, sign={self.use_sign}"


class HashedLinear(nn.Module):
    """A Linear layer whose (out × in) weight is a :class:`HashedWeight` of K real weights; the bias is dense."""

    def __init__(self, in_features: int, out_features: int, buckets: int | None = None, *,
                 compression: float | None = None, seed: int = 0, layer: int = 0, mode: str = "gather",
                 sign: bool = True, bias: bool = True, persist_index: bool = False):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"in_features and out_features must be >= 1, got {in_features}, {out_features}")
        if (buckets is None) == (compression is None):
            raise ValueError("give exactly one of buckets (K) and compression")
        buckets = buckets_for(in_features * out_features, compression) if buckets is None else buckets
        self.in_features, self.out_features = in_features, out_features
        self.hashed = HashedWeight((out_features, in_features), buckets, seed, layer, mode, sign, persist_index)
        bound = 1 / math.sqrt(in_features)
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None

    @property
    def weight(self) -> torch.Tensor:
        return self.hashed.current()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"HashedLinear expects inputs with {self.in_features} features, got shape {tuple(x.shape)}")
        return F.linear(x, self.hashed.current(), self.bias)


class HashedConv2d(nn.Module):
    """A Conv2d whose (out × in/groups × kh × kw) kernel is a :class:`HashedWeight`; the bias is dense."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, buckets: int | None = None, *,
                 compression: float | None = None, stride: int = 1, padding: int = 0, seed: int = 0, layer: int = 0,
                 mode: str = "gather", sign: bool = True, bias: bool = True):
        super().__init__()
        if min(in_channels, out_channels, kernel_size) < 1:
            raise ValueError(f"channels and kernel_size must be >= 1, got {in_channels}, {out_channels}, {kernel_size}")
        if (buckets is None) == (compression is None):
            raise ValueError("give exactly one of buckets (K) and compression")
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        buckets = buckets_for(math.prod(shape), compression) if buckets is None else buckets
        self.in_channels, self.stride, self.padding = in_channels, stride, padding
        self.hashed = HashedWeight(shape, buckets, seed, layer, mode, sign)
        bound = 1 / math.sqrt(math.prod(shape[1:]))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None

    @property
    def weight(self) -> torch.Tensor:
        return self.hashed.current()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"HashedConv2d expects (N, {self.in_channels}, H, W) inputs, got shape {tuple(x.shape)}")
        return F.conv2d(x, self.hashed.current(), self.bias, self.stride, self.padding)


def hashed_layers(model: nn.Module) -> list[HashedWeight]:
    """Every :class:`HashedWeight` in ``model``."""
    return [m for m in model.modules() if isinstance(m, HashedWeight)]


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    """Switch every hashed weight of ``model`` to ``mode`` (one of :data:`MODES`); returns ``model``."""
    for m in hashed_layers(model):
        m.mode = mode
    return model


def stored_floats(model: nn.Module) -> int:
    """Floats a file of ``model`` holds: its floating-point parameters and persistent floating buffers."""
    return sum(t.numel() for t in model.state_dict().values() if t.is_floating_point())


def runtime_bytes(model: nn.Module) -> int:
    """Bytes a hashed model keeps in memory at run time beyond its parameters: index tables, signs, caches."""
    extra = sum(b.numel() * b.element_size() for m in hashed_layers(model) for b in (m.index, m.sign))
    return extra + sum(m._cache.numel() * 4 for m in hashed_layers(model) if m._cache is not None)


def bucket_sum_multiplications(layer: HashedWeight) -> tuple[int, int]:
    """(dense, bucket-sum) multiplications of one input through the layer: y_i = Σ_k w_k Σ_{j: h(i,j)=k} ξ x_j
    needs one multiply per distinct bucket of row i instead of one per column (analytic, not a speed-up)."""
    h = layer.index if layer.index.numel() else layer.tables()[0]
    h = h.reshape(layer.rows, layer.cols)
    distinct = sum(int(row.unique().numel()) for row in h)
    return layer.rows * layer.cols, distinct
