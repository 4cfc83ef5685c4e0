"""The table's training protocol: one fixed recipe, a seeded train/validation split, and one function that
trains an architecture with it (the builder, the notebook's re-check and ``make bench`` all call it).

Accuracies under this protocol are a **proxy**: one epoch on 6,400 images is far from convergence. They rank
architectures; they are not what the networks reach when trained properly.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch.utils.data import TensorDataset

from ..data import Splits, balanced_indices
from ..measure import torch_threads
from ..train import TrainConfig, evaluate, fit
from .space import SearchSpace


@dataclass(frozen=True)
class Protocol:
    """How every table entry is trained: Adam, cosine decay, ``epochs`` over ``train_per_class`` images of each
    class (the rest of the training set is the validation split), initial weights and batch order from ``seed``,
    in channels-last memory format, on ``threads`` CPU threads (so a retrain on the same CPU and torch reproduces the table)."""

    epochs: int = 1
    lr: float = 0.01
    batch_size: int = 64
    train_per_class: int = 640
    split_seed: int = 0
    seed: int = 0
    threads: int = 1
    channels_last: bool = True  # train in channels-last memory format (2x faster for depthwise convs on CPU)
    dataset: str = "fashion-mnist-mini"

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.train_per_class < 1 or self.threads < 1:
            raise ValueError(f"epochs, batch_size, train_per_class and threads must be >= 1, got {self}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, seed=self.seed)

    def as_dict(self) -> dict:
        return asdict(self)


def split(splits: Splits, protocol: Protocol) -> tuple[TensorDataset, TensorDataset]:
    """(train, validation): ``train_per_class`` images per class chosen by a seeded permutation; the rest validate."""
    x, y = splits.train.tensors
    keep = torch.from_numpy(balanced_indices(y.numpy(), protocol.train_per_class, protocol.split_seed))
    rest = torch.ones(len(y), dtype=torch.bool)
    rest[keep] = False
    if not rest.any():
        raise ValueError(f"train_per_class {protocol.train_per_class} leaves no validation images")
    return TensorDataset(x[keep], y[keep]), TensorDataset(x[rest], y[rest])


def train_arch(space: SearchSpace, arch, splits: Splits, protocol: Protocol = Protocol(), *, device="cpu",
               data: tuple | None = None) -> tuple[torch.nn.Module, dict]:
    """Train ``arch`` with ``protocol``; return the model and ``{val_accuracy, test_accuracy, train_seconds}``.

    Initial weights come from ``protocol.seed`` inside :func:`torch.random.fork_rng` (the caller's RNG is left
    alone). ``data`` = ``split(splits, protocol)`` computed once by a caller that trains many architectures.
    """
    train, val = data or split(splits, protocol)
    with torch.random.fork_rng(devices=[]), torch_threads(protocol.threads):
        torch.manual_seed(protocol.seed)
        model = space.build(arch, splits.input_shape, splits.num_classes)
        if protocol.channels_last:
            model = model.to(memory_format=torch.channels_last)
        start = time.perf_counter()
        fit(model, train, protocol.train_config(), device=device, desc=space.name(arch))
        seconds = time.perf_counter() - start
        scores = {"val_accuracy": evaluate(model, val, device=device),
                  "test_accuracy": evaluate(model, splits.test, device=device)}
    return model.cpu().to(memory_format=torch.contiguous_format).eval(), {**scores, "train_seconds": seconds}
