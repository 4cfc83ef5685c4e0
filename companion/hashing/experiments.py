"""Training and scoring helpers of 04_hashing: every network trained through ``train.train_cached`` (cached)."""
from __future__ import annotations

import hashlib
import inspect
import io

import torch
from torch import nn

from ..data import Splits
from ..train import TrainConfig, evaluate, train_cached
from .fresh import HashedLeNet5
from .lsh import LSHMLP
from . import fresh, funhash, hash as hash_module, layers, lsh, models
from .models import MaskedLinear, build, compact_rer, stored_params


def _builder_tag() -> str:
    """A hash of the package's source: ``train_cached`` hashes the model classes, not the functions that build
    them or the hash that fills them, and a checkpoint trained under another hash would load as noise."""
    source = "".join(inspect.getsource(m) for m in (hash_module, layers, models, fresh, funhash, lsh))
    return hashlib.sha256(source.encode()).hexdigest()[:8]


def file_bytes(obj) -> int:
    """Bytes of ``torch.save`` of a state dict (a module's) or of a dict of tensors."""
    buf = io.BytesIO()
    torch.save(obj.state_dict() if isinstance(obj, nn.Module) else obj, buf)
    return len(buf.getvalue())


def stored_file_bytes(model: nn.Module) -> int:
    """The file a method must really store: RER as kept values + positions, the others their state dict."""
    return file_bytes(compact_rer(model) if any(isinstance(m, MaskedLinear) for m in model.modules()) else model)


def train_mlp(splits: Splits, config: TrainConfig, device="auto", **kwargs) -> tuple[nn.Module, dict]:
    """One network of :func:`companion.hashing.models.build` (``kind``, ``compression``, ``hidden``), cached."""
    kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    return train_cached(f"hashing-{kwargs.get('kind', 'hashed')}-{_builder_tag()}", splits, config, device=device, build=build,
                        model_kwargs=kwargs)


def score(model: nn.Module, splits: Splits, device="auto") -> dict:
    """Test accuracy, floats the method stores, and its file bytes."""
    return {"accuracy": evaluate(model, splits.test, device=device), "stored": stored_params(model.cpu()),
            "file_bytes": stored_file_bytes(model.cpu())}


def train_lenet5(splits: Splits, config: TrainConfig, device="auto", **kwargs) -> tuple[nn.Module, dict]:
    """A :class:`HashedLeNet5` (``conv`` = "fresh" or "spatial"), cached."""
    return train_cached(f"hashing-lenet5-{kwargs.get('conv', 'fresh')}-{_builder_tag()}", splits, config, device=device,
                        build=HashedLeNet5, model_kwargs=kwargs)


def train_lsh(splits: Splits, config: TrainConfig, device="auto", **kwargs) -> tuple[LSHMLP, dict]:
    """An :class:`LSHMLP` trained with its ``selection`` (dense, or LSH active sets), cached."""
    return train_cached(f"hashing-lsh-{kwargs.get('selection', 'lsh')}-{_builder_tag()}", splits, config, device=device,
                        build=LSHMLP, model_kwargs=kwargs)
