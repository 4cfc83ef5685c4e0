"""Knowledge distillation: a small *student* learns from a large *teacher*.

Three methods, each a loss on tensors plus a thin wrapper around :func:`companion.train.fit`:

- response-based distillation (Hinton, Vinyals & Dean 2015): :func:`kd_loss`;
- logit regression (Ba & Caruana 2014): :func:`logit_regression_loss`;
- hints (FitNets, Romero et al. 2015): :func:`hint_loss` through a :func:`hint_regressor`, then KD.

The teacher's logits on the (fixed, un-augmented) training set are computed once and travel with
the labels as the training target (:func:`with_teacher_logits`), so a distillation epoch costs only
the student's forward and backward passes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _check_kd(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


@dataclass(frozen=True)
class KDConfig:
    """Response-based distillation: softmax ``temperature`` T > 0 and soft-loss weight ``alpha`` in [0, 1].

    ``alpha = 1`` trains on the teacher's soft targets only, ``alpha = 0`` on the hard labels only.
    """

    temperature: float = 4.0
    alpha: float = 0.9

    def __post_init__(self):
        _check_kd(self.temperature, self.alpha)


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    if student_logits.shape[-1] != teacher_logits.shape[-1]:
        raise ValueError("teacher and student must have the same number of classes: "
                         f"student {student_logits.shape[-1]}, teacher {teacher_logits.shape[-1]}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student and teacher logits must have the same shape, got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")


def soften(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softened class probabilities ``p_i = exp(z_i / T) / Σ_j exp(z_j / T)``; shape (N, C) → (N, C).

    T = 1 is the ordinary softmax; a larger T flattens it and shows the small probabilities of the
    wrong classes, the "dark knowledge" (Hinton et al. 2015).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(logits / temperature, dim=-1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al.'s distillation loss, a scalar averaged over the batch.

    ``L = α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(softmax(s), y)``

    with student logits s and teacher logits t of shape (N, C) and labels y of shape (N,). The T²
    keeps the soft term's gradients at the same scale whatever T (they shrink as 1/T²).
    Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network", §2.
    """
    _check_kd(temperature, alpha)
    _check_logits(student_logits, teacher_logits)
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    soft = F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean") * temperature ** 2
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1.0 - alpha) * hard


def logit_regression_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Ba & Caruana's mimic loss: ``½ · mean over examples of ‖s − t‖²`` on the logits (N, C).

    The student regresses the teacher's logits directly (no softmax, no labels).
    Ba & Caruana 2014, "Do deep nets really need to be deep?", §2.2.
    """
    _check_logits(student_logits, teacher_logits)
    return 0.5 * (student_logits - teacher_logits).pow(2).sum(-1).mean()


def hint_loss(regressed: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """FitNets' hint loss ``½ · mean over examples of ‖u_h − r(v_g)‖²`` on feature maps (N, C, H, W).

    ``regressed`` is the regressor's output r(v_g) on the student's guided layer, ``teacher_features``
    the teacher's hint layer u_h. Romero et al. 2015, "FitNets: hints for thin deep nets", eq. (3).
    """
    if regressed.shape != teacher_features.shape:
        raise ValueError(f"regressed student features {tuple(regressed.shape)} must match the teacher's "
                         f"hint {tuple(teacher_features.shape)}; build the regressor with hint_regressor()")
    return 0.5 * (regressed - teacher_features).pow(2).flatten(1).sum(1).mean()


def top1_agreement(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Fraction of examples on which two models' top-1 classes agree; logits (N, C) each."""
    _check_logits(logits_a, logits_b)
    return (logits_a.argmax(-1) == logits_b.argmax(-1)).float().mean().item()
