"""First-order DARTS (Liu, Simonyan & Yang 2019) over the blocks of the space, with an optional expected-latency
penalty (ProxylessNAS, Cai et al. 2019; FBNet, Wu et al. 2019).

Each block computes a *mixed operation* ``ō_b(x) = Σ_i softmax(α_b)_i · o_i(x)`` over all its candidate ops
(width fixed). Training alternates two steps: the architecture weights α descend the validation loss
``L_val(w, α) + λ · Σ_b Σ_i softmax(α_b)_i · LAT_{b,i}`` (first order: w is treated as a constant, no
unrolled step), then the network weights w descend the training loss. The derived architecture keeps the
op of largest α in each block.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data import loader
from ..train import resolve_device
from .oneshot import Supernet
from .space import SearchSpace


@dataclass(frozen=True)
class DartsConfig:
    """``epochs`` of alternating updates; w: Adam ``lr`` with cosine decay; α: Adam ``arch_lr`` (NNI's default is
    3e-4 over 50 epochs; our few short epochs need larger steps); ``latency_penalty`` λ in 1/ms."""

    epochs: int = 5
    lr: float = 0.01
    arch_lr: float = 0.01
    batch_size: int = 64
    latency_penalty: float = 0.0
    seed: int = 0
    width: float = 1.0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not (self.lr > 0 and self.arch_lr > 0) or self.latency_penalty < 0:
            raise ValueError(f"need lr > 0, arch_lr > 0 and latency_penalty >= 0, got {self.lr}, {self.arch_lr}, "
                             f"{self.latency_penalty}")


class DartsNet(Supernet):
    """The supernet with one α vector per block; ``forward(x)`` runs every op of every block, mixed by softmax(α)."""

    def __init__(self, space: SearchSpace, width: float = 1.0, input_shape=(1, 28, 28), num_classes: int = 10):
        super().__init__(space, width, input_shape, num_classes)
        self.alpha = nn.Parameter(torch.zeros(space.blocks, len(space.ops)))

    def forward(self, x, path=None):
        if path is not None:
            return super().forward(x, path)
        x = self.stem(x)
        for block, w in zip(self.choices, torch.softmax(self.alpha, dim=1)):
            x = mixed(block, w, x)
        return self.head(x)

    def weights(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n != "alpha"]


def mixed(ops: nn.ModuleList, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """DARTS's mixed operation ``Σ_i w_i · o_i(x)``."""
    return sum(w * op(x) for w, op in zip(weights, ops))


def expected_latency(alpha: torch.Tensor, latency: torch.Tensor) -> torch.Tensor:
    """``Σ_b Σ_i softmax(α_b)_i · LAT_{b,i}`` in ms: differentiable in α (FBNet eq. 5, ProxylessNAS §3.3)."""
    return (torch.softmax(alpha, dim=1) * latency).sum()


def derive(net: DartsNet) -> tuple[int, ...]:
    """The derived architecture: the op of largest α in every block."""
    return net.arch(net.alpha.argmax(dim=1).tolist())


def search(space: SearchSpace, train_data, val_data, config: DartsConfig = DartsConfig(), latency=None,
           input_shape=(1, 28, 28), num_classes: int = 10, device="cpu") -> dict:
    """Run first-order DARTS; ``latency`` is the (blocks, ops) LUT matrix in ms (needed when λ > 0).

    Returns ``{"arch", "alphas" (epochs+1, blocks, ops) softmax(α) after each epoch, "history", "net"}``.
    """
    if config.latency_penalty > 0 and latency is None:
        raise ValueError("latency_penalty > 0 needs the (blocks, ops) latency matrix (hardware.block_latency_matrix)")
    dev = resolve_device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = DartsNet(space, config.width, input_shape, num_classes).to(dev).to(memory_format=torch.channels_last)
    lat = torch.as_tensor(np.zeros((space.blocks, len(space.ops))) if latency is None else latency,
                          dtype=torch.float32, device=dev)
    w_opt = torch.optim.Adam(net.weights(), lr=config.lr)
    a_opt = torch.optim.Adam([net.alpha], lr=config.arch_lr)
    train_batches = loader(train_data, config.batch_size, shuffle=True, seed=config.seed)
    val_batches = loader(val_data, config.batch_size, shuffle=True, seed=config.seed + 1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, config.epochs * min(len(train_batches), len(val_batches)))
    alphas, history = [torch.softmax(net.alpha, 1).detach().cpu().numpy()], []
    for epoch in range(config.epochs):
        net.train()
        total = count = 0
        for (xw, yw), (xa, ya) in zip(train_batches, val_batches):
            a_loss = nn.functional.cross_entropy(net(xa.to(dev)), ya.to(dev))
            a_loss = a_loss + config.latency_penalty * expected_latency(net.alpha, lat)
            a_opt.zero_grad(set_to_none=True)
            a_loss.backward()
            a_opt.step()
            w_loss = nn.functional.cross_entropy(net(xw.to(dev)), yw.to(dev))
            w_opt.zero_grad(set_to_none=True)
            w_loss.backward()
            w_opt.step()
            sched.step()
            total, count = total + w_loss.item() * len(yw), count + len(yw)
        alphas.append(torch.softmax(net.alpha, 1).detach().cpu().numpy())
        history.append({"epoch": epoch + 1, "loss": total / count,
                        "expected_latency_ms": float(expected_latency(net.alpha.detach(), lat))})
    return {"arch": derive(net), "alphas": np.stack(alphas), "history": history, "net": net.eval()}
