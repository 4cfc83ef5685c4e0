"""One-shot weight sharing: a supernet trained with uniform single-path sampling (SPOS, Guo et al. 2020;
ENAS, Pham et al. 2018, shares weights the same way but samples paths with an RNN controller).

Every block holds all its candidate operations; each training batch runs **one** random path (one op per
block), so one training run trains every sub-network's weights a little. A sub-network is then scored with
the weights it *inherits*, after recalibrating its batch-norm statistics on a few training batches (the
running statistics were accumulated over a mixture of paths and fit none of them). Widths are fixed
(``width``): the supernet covers the ``len(ops) ** blocks`` architectures of that width.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..data import loader
from ..train import resolve_device
from .space import SearchSpace, make_op


@dataclass(frozen=True)
class OneShotConfig:
    """Supernet training: ``epochs`` over the data, one uniformly sampled path per batch, Adam with cosine decay;
    scoring: ``calibration_batches`` training batches to re-estimate BN statistics of each sub-network."""

    epochs: int = 6
    lr: float = 0.01
    batch_size: int = 64
    seed: int = 0
    calibration_batches: int = 5
    width: float = 1.0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.calibration_batches < 1:
            raise ValueError(f"epochs, batch_size and calibration_batches must be >= 1, got {self}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


class Supernet(nn.Module):
    """Stem, then per block a ``ModuleList`` of every op of the space at width ``width``, then the head.
    ``forward(x, path)`` runs op ``path[b]`` in block ``b``."""

    def __init__(self, space: SearchSpace, width: float = 1.0, input_shape=(1, 28, 28), num_classes: int = 10):
        from torchvision.ops import Conv2dNormActivation

        super().__init__()
        if width not in space.widths:
            raise ValueError(f"width must be one of {space.widths}, got {width}")
        self.space, self.width_index = space, space.widths.index(width)
        layers = space.layers(self.arch([0] * space.blocks))
        self.stem = Conv2dNormActivation(input_shape[0], space.stem_channels, 3)
        self.choices = nn.ModuleList(nn.ModuleList(make_op(op, cin, cout, s, space.expand_ratio) for op in space.ops)
                                     for _, cin, cout, s in layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(layers[-1][2], num_classes))

    def arch(self, path) -> tuple[int, ...]:
        """The architecture (decision tuple of the space) of a path of op indices."""
        return tuple(v for op in path for v in (int(op), self.width_index))

    def forward(self, x, path):
        x = self.stem(x)
        for block, op in zip(self.choices, path):
            x = block[op](x)
        return self.head(x)

    def path_modules(self, path) -> list[nn.Module]:
        return [self.stem, *(block[op] for block, op in zip(self.choices, path)), self.head]


def random_path(num_ops: int, blocks: int, generator: torch.Generator) -> tuple[int, ...]:
    """One op per block, uniformly (SPOS's uniform path sampling)."""
    return tuple(int(v) for v in torch.randint(num_ops, (blocks,), generator=generator))


def train_supernet(supernet: Supernet, data, config: OneShotConfig = OneShotConfig(), device="cpu") -> list[dict]:
    """Train the shared weights, one random path per batch; returns one ``{epoch, loss}`` row per epoch."""
    dev = resolve_device(device)
    supernet.to(dev).to(memory_format=torch.channels_last).train()
    gen = torch.Generator().manual_seed(config.seed)
    batches = loader(data, config.batch_size, shuffle=True, seed=config.seed)
    opt = torch.optim.Adam(supernet.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs * len(batches))
    history = []
    for epoch in range(config.epochs):
        total = count = 0
        for x, y in batches:
            path = random_path(len(supernet.space.ops), supernet.space.blocks, gen)
            loss = nn.functional.cross_entropy(supernet(x.to(dev), path), y.to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + loss.item() * len(y), count + len(y)
        history.append({"epoch": epoch + 1, "loss": total / count})
    return history


@torch.no_grad()
def recalibrate_bn_(supernet: Supernet, path, data, batches: int = 5, batch_size: int = 64, device="cpu") -> None:
    """Reset the BN running statistics of the path's modules and re-estimate them (cumulative average) on
    ``batches`` training batches in train mode, in place (Guo et al. 2020, §3.3)."""
    bns = [m for mod in supernet.path_modules(path) for m in mod.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    supernet.train()
    for i, (x, _) in enumerate(loader(data, batch_size, shuffle=False)):
        if i >= batches:
            break
        supernet(x.to(device), path)
    for bn, m in zip(bns, saved):
        bn.momentum = m
    supernet.eval()


@torch.no_grad()
def path_accuracy(supernet: Supernet, path, val_data, calib_data, config: OneShotConfig = OneShotConfig(),
                  device="cpu") -> float:
    """Accuracy on ``val_data`` of the sub-network ``path`` with inherited weights, BN recalibrated first."""
    dev = resolve_device(device)
    recalibrate_bn_(supernet, path, calib_data, config.calibration_batches, config.batch_size, dev)
    correct = 0
    for x, y in loader(val_data, 512):
        correct += (supernet(x.to(dev), path).argmax(1).cpu() == y).sum().item()
    return correct / len(val_data)
