"""FitNets (Romero et al. 2015): a thin deep student learns the teacher's intermediate features (hints) first."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..train import TrainConfig, fit, resolve_device
from .losses import hint_loss


@dataclass(frozen=True)
class HintConfig:
    """FitNets stage 1: ``epochs`` of hint training (student up to its guided layer + regressor) at ``lr``.

    ``max_train`` limits stage 1 to the first training images (the teacher runs on every batch).
    """

    epochs: int = 1
    lr: float = 1e-3
    max_train: int | None = None

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"hint epochs must be >= 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"hint lr must be > 0, got {self.lr}")
        if self.max_train is not None and self.max_train < 1:
            raise ValueError(f"hint max_train must be >= 1 or None, got {self.max_train}")


def hint_regressor(student_shape, teacher_shape) -> nn.Conv2d:
    """A conv that maps the student's guided features (C_s, H_s, W_s) to the teacher's hint (C_t, H_t, W_t).

    1×1 when the spatial sizes agree; otherwise a k×k conv with k = H_s − H_t + 1, no padding
    (FitNets' convolutional regressor). The student map must not be smaller than the teacher's.
    """
    (cs, hs, ws), (ct, ht, wt) = tuple(student_shape)[-3:], tuple(teacher_shape)[-3:]
    if hs < ht or ws < wt or hs - ht != ws - wt:
        raise ValueError(f"cannot regress student features {hs}×{ws} onto teacher features {ht}×{wt}: "
                         "the student map must be at least as large, by the same amount in H and W")
    return nn.Conv2d(cs, ct, kernel_size=hs - ht + 1, bias=False)


def intermediate(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of submodule ``layer`` when ``model(x)`` runs (a forward hook, removed afterwards)."""
    captured = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        model(x)
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"{type(layer).__name__} did not run in the forward pass of {type(model).__name__}")
    return captured[0]


class HintNet(nn.Module):
    """FitNets stage 1 as one module: the student up to its guided layer, then the regressor.

    ``forward(x) = regressor(guided(x))``, shape of the teacher's hint layer. It holds the student,
    so training it trains the student's lower layers in place.
    """

    def __init__(self, student: nn.Module, guided: nn.Module, regressor: nn.Module):
        super().__init__()
        self.student, self.regressor = student, regressor
        self._guided = [guided]  # a list, so it is not registered twice

    def forward(self, x):
        return self.regressor(intermediate(self.student, self._guided[0], x))


def train_hints(student: nn.Module, guided: nn.Module, teacher: nn.Module, hint: nn.Module,
                train_data: TensorDataset, config: HintConfig, *, seed: int = 0, batch_size: int = 128,
                device="auto") -> tuple[HintNet, list[dict]]:
    """FitNets stage 1: train ``student`` up to ``guided`` (+ a regressor) to predict the teacher's ``hint``.

    The teacher runs in eval mode without gradients; its hint features come from a forward hook.
    Returns the :class:`HintNet` (its ``regressor`` included) and the history.
    """
    dev = resolve_device(device)
    teacher.to(dev).eval()
    x0 = train_data.tensors[0][:2].to(dev)
    with torch.no_grad():
        t_shape, s_shape = intermediate(teacher, hint, x0).shape, intermediate(student.to(dev), guided, x0).shape
    net = HintNet(student, guided, hint_regressor(s_shape, t_shape))

    def loss_fn(model, x, y):
        with torch.no_grad():
            target = intermediate(teacher, hint, x)
        return hint_loss(model(x), target)

    cfg = TrainConfig(epochs=config.epochs, lr=config.lr, batch_size=batch_size, seed=seed,
                      max_train=config.max_train)
    history = fit(net, train_data, cfg, device=dev, loss_fn=loss_fn, desc="hints")
    return net, history
