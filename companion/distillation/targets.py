"""The teacher's logits, computed once and cached, travelling with the labels as the training target."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..io import torch_save_atomic
from ..train import TrainConfig, cache_dir, fit, predict
from .losses import KDConfig, kd_loss, logit_regression_loss


def pack_targets(labels: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """One target tensor (N, 1 + C): the label (as a float, exact below 2²⁴) then the teacher's logits."""
    if labels.shape[0] != teacher_logits.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels but {teacher_logits.shape[0]} rows of teacher logits")
    return torch.cat([labels[:, None].to(teacher_logits.dtype), teacher_logits], dim=1)


def unpack_targets(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack_targets`: labels (N,) int64 and teacher logits (N, C)."""
    return targets[:, 0].long(), targets[:, 1:]


def with_teacher_logits(data: TensorDataset, teacher_logits: torch.Tensor) -> TensorDataset:
    """The dataset ``(x, pack_targets(y, teacher_logits))``: what :func:`fit` feeds a distillation loss."""
    images, labels = data.tensors
    return TensorDataset(images, pack_targets(labels, teacher_logits.detach().float().cpu()))


def precompute_logits(teacher: nn.Module, data: TensorDataset, device="auto") -> torch.Tensor:
    """The teacher's logits (N, C) on ``data`` in eval mode, on the CPU: computed once, reused every epoch."""
    return predict(teacher, data, device=device)[0]


def cached_logits(teacher: nn.Module, data: TensorDataset, key: str, device="auto") -> torch.Tensor:
    """:func:`precompute_logits`, stored in the model cache under the teacher's cache ``key`` and ``len(data)``.

    ``key`` must identify the teacher's weights and the data (e.g. ``f"{info['key']}-{splits.name}"``
    from :func:`companion.train.baseline`); ``data`` must be the first ``len(data)`` images of that set.
    """
    path = cache_dir() / f"logits-{key}-{len(data)}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    logits = precompute_logits(teacher, data, device)
    torch_save_atomic(logits, path)
    return logits


def kd_objective(config: KDConfig) -> Callable:
    """``loss_fn(student, x, packed_targets)`` for :func:`fit`: :func:`kd_loss` with ``config``."""
    def loss_fn(model, x, y):
        labels, teacher = unpack_targets(y)
        return kd_loss(model(x), teacher, labels, config.temperature, config.alpha)
    return loss_fn


def logit_regression_objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` for :func:`fit`: :func:`logit_regression_loss` on packed targets (labels unused)."""
    return logit_regression_loss(model(x), unpack_targets(y)[1])


def distill(student: nn.Module, train_data: TensorDataset, teacher_logits: torch.Tensor,
            config: TrainConfig, kd: KDConfig, *, device="auto", test_data=None,
            desc: str = "distill") -> list[dict]:
    """Train ``student`` in place with :func:`kd_loss` against precomputed ``teacher_logits``."""
    return fit(student, with_teacher_logits(train_data, teacher_logits), config, device=device,
               loss_fn=kd_objective(kd), test_data=test_data, desc=desc)


def regress_logits(student: nn.Module, train_data: TensorDataset, teacher_logits: torch.Tensor,
                   config: TrainConfig, *, device="auto", test_data=None) -> list[dict]:
    """Train ``student`` in place to regress ``teacher_logits`` (Ba & Caruana 2014)."""
    return fit(student, with_teacher_logits(train_data, teacher_logits), config, device=device,
               loss_fn=logit_regression_objective, test_data=test_data, desc="logit regression")
