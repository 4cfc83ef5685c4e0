"""Training with weights stored in a low-precision format, as in Gupta et al. (2015): plain SGD, and after
every step each weight is rounded back to the format, ``w ← Q(w − lr·g)``, with **no float32 master copy**.

Round-to-nearest then stalls: an update smaller than half an LSB rounds back to the same weight, every step,
however many steps agree on its sign. Stochastic rounding moves the weight one LSB with probability
``|lr·g| / LSB``, so the expected step is the true step and small updates accumulate. With a master copy
(``master_copy=True``: ``w32 ← w32 − lr·g``, the model computes with ``Q(w32)``, as quantization-aware
training and mixed-precision training do) the small updates accumulate in float32 and rounding stops mattering.

The optimizer records, at every step, the fraction of weights whose stored value changed and a histogram
of ``|lr·g| / LSB`` (LSB: the format's grid spacing at the current weight), the statistics that show the
mechanism. Activations and gradients stay float32; only the stored weights are low precision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..models import build_model
from ..train import TrainConfig, fit, resolve_device
from .formats import ROUNDINGS
from .registry import get_format

# Histogram of log2(|update| / LSB): one bin per power of two in [LOG2_LO, LOG2_HI); values outside go to the
# edge bins, exact zeros (units that got no gradient) are counted apart.
LOG2_LO, LOG2_HI = -16, 8


@dataclass(frozen=True)
class LowPrecisionConfig:
    """Plain SGD (no momentum, constant learning rate) with weights stored in ``format`` (a format name of
    :func:`companion.precision.get_format`; ``"fp32"`` is the float reference)."""

    format: str = "fixed<16,14>"
    rounding: str = "stochastic"
    master_copy: bool = False
    lr: float = 0.1
    epochs: int = 8
    batch_size: int = 128
    seed: int = 0
    max_train: int | None = None

    def __post_init__(self):
        get_format(self.format)  # an unknown name fails here, listing the valid ones
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, got {self.rounding!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")

    @property
    def label(self) -> str:
        short = {"nearest": "RN", "stochastic": "SR"}[self.rounding]
        return "fp32" if self.format == "fp32" else f"{self.format} {short}{' + master' if self.master_copy else ''}"


class LowPrecisionSGD(torch.optim.Optimizer):
    """SGD whose parameters always hold values of ``fmt``: ``w ← Q(w − lr·g)`` (or through a float32 master
    copy). The parameters are rounded to the format (to nearest) when the optimizer is built.

    ``generator`` (a seeded ``torch.Generator`` on the parameters' device) drives stochastic rounding.
    ``steps`` holds one record per step: ``changed`` (fraction of weights whose value changed), ``below_half``
    (fraction of updates under half an LSB), ``hist`` (counts of log2(|update| / LSB), see :data:`LOG2_LO`),
    ``zeros`` (updates that were exactly 0).
    """

    def __init__(self, params, fmt, lr: float, rounding: str = "stochastic", generator=None,
                 master_copy: bool = False):
        super().__init__(params, {"lr": lr})
        self.fmt, self.rounding, self.generator, self.master_copy = fmt, rounding, generator, master_copy
        self.steps: list[dict] = []
        with torch.no_grad():
            for p in self._params():
                if master_copy:
                    self.state[p]["master"] = p.detach().clone()
                p.copy_(fmt.quantize(p, "nearest"))

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        changed = zeros = total = 0
        hist = torch.zeros(LOG2_HI - LOG2_LO, dtype=torch.int64)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                update = -group["lr"] * p.grad
                ratio = update.abs() / self.fmt.lsb_of(p)
                counts, nz = update_histogram(ratio)
                hist += counts
                zeros += nz
                target = self.state[p]["master"].add_(update) if self.master_copy else p + update
                new = self.fmt.quantize(target, self.rounding, self.generator)
                changed += int((new != p).sum())
                total += p.numel()
                p.copy_(new)
        n = max(total, 1)
        below = int(hist[:-1 - LOG2_LO].sum()) + zeros  # bins k <= -2 hold ratios < 1/2
        self.steps.append({"changed": changed / n, "below_half": below / n, "zeros": zeros, "hist": hist})
        return loss


def update_histogram(ratio: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Counts of ``⌊log2(ratio)⌋`` in unit bins ``[2^k, 2^(k+1))``, ``k`` from :data:`LOG2_LO` to
    :data:`LOG2_HI` − 1 (outside: the edge bins), and the number of zeros (ratios below 2^-126 count as zeros).

    ``⌊log2⌋`` is the float32 exponent field minus 127 (``ratio`` ≥ 0): one shift and one ``bincount``.
    """
    field = ratio.detach().float().contiguous().view(torch.int32) >> 23
    raw = torch.bincount(field.reshape(-1).cpu(), minlength=256)
    lo, hi = 127 + LOG2_LO, 127 + LOG2_HI
    hist = raw[lo:hi].clone()
    hist[0] += raw[1:lo].sum()
    hist[-1] += raw[hi:].sum()
    return hist, int(raw[0])


def init_model(name: str, splits, seed: int) -> nn.Module:
    """A freshly initialised ``companion.models`` network, seeded inside ``fork_rng`` (the global RNG is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(name, splits.input_shape, splits.num_classes)


def train_low_precision(model: nn.Module, train_data, config: LowPrecisionConfig, *, device="auto",
                        test_data=None) -> dict:
    """Train ``model`` in place with :class:`LowPrecisionSGD` in ``config.format``; one row per epoch.

    Returns ``{"history": [{epoch, loss, test_accuracy?, changed, below_half, hist}], "changed": [per step]}``:
    per epoch, the mean fraction of weights that changed per step and of updates under half an LSB, and the
    summed histogram of log2(|update| / LSB) (numpy, :data:`LOG2_LO` … :data:`LOG2_HI`).
    """
    dev = resolve_device(device)
    model.to(dev)
    generator = torch.Generator(device=dev).manual_seed(config.seed)
    opt = LowPrecisionSGD(model.parameters(), get_format(config.format), config.lr, config.rounding, generator,
                          config.master_copy)
    plain = TrainConfig(epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, optimizer="sgd",
                        momentum=0.0, schedule="constant", seed=config.seed, max_train=config.max_train)
    history = fit(model, train_data, plain, device=dev, optimizer=opt, test_data=test_data, desc=config.label)
    per_epoch = math.ceil(len(opt.steps) / config.epochs)
    for i, row in enumerate(history):
        steps = opt.steps[i * per_epoch:(i + 1) * per_epoch]
        row["changed"] = sum(s["changed"] for s in steps) / len(steps)
        row["below_half"] = sum(s["below_half"] for s in steps) / len(steps)
        row["hist"] = torch.stack([s["hist"] for s in steps]).sum(0).numpy()
    return {"history": history, "changed": [s["changed"] for s in opt.steps]}
