"""The persistent-index trap: what a file of a hashed layer holds when its index table is saved with it."""
from __future__ import annotations

from torch import nn

from ..measure import size_bytes
from .layers import HashedLinear


def persistent_index_trap(in_features: int = 784, out_features: int = 300, compression: float = 1 / 64,
                          seed: int = 0) -> dict:
    """File bytes (``torch.save(state_dict)``) of a dense Linear, a HashedLinear whose index is a
    ``persistent=False`` buffer, and the same layer with a persistent index (8 bytes per virtual weight)."""
    ok = HashedLinear(in_features, out_features, compression=compression, seed=seed)
    trap = HashedLinear(in_features, out_features, compression=compression, seed=seed, persist_index=True)
    return {"dense": size_bytes(nn.Linear(in_features, out_features)).bytes, "hashed": size_bytes(ok).bytes,
            "hashed, persistent index": size_bytes(trap).bytes, "K": ok.hashed.buckets,
            "virtual": in_features * out_features, "bias": out_features}
