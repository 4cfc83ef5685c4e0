"""Pruning masks and criteria: pure tensor functions (``True`` = kept, shaped like the weight).

A *score* per weight, the lowest removed: magnitude |w| (Han et al. 2015), random, or the Optimal Brain
Damage saliency (:mod:`companion.pruning.obd`); one ranking per layer or across layers (global scope).
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers import find_layers

CRITERIA = ("magnitude", "obd", "random")


SCOPES = ("layer", "global")


PRUNABLE = (nn.Linear, nn.Conv2d)


def _check_sparsity(sparsity: float, name: str = "sparsity") -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {sparsity}")


def score_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Boolean mask (``True`` = kept) that removes the ``round(sparsity · n)`` lowest ``scores``.

    Exact: exactly ``round(sparsity · scores.numel())`` entries are ``False`` (Python's ``round``,
    the count ``torch.nn.utils.prune`` uses). Ties are broken deterministically: among equal
    scores the one with the lower flat (row-major) index is removed first.
    """
    _check_sparsity(sparsity)
    k = round(sparsity * scores.numel())
    order = torch.argsort(scores.detach().flatten(), stable=True)
    mask = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    mask[order[:k]] = False
    return mask.view_as(scores)


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Mask removing the ``round(sparsity · n)`` smallest-magnitude weights (Han et al. 2015).

    ``mask = |w| > threshold`` with the threshold chosen so that the sparsity is exact; ties are
    broken by flat index (see :func:`score_mask`). Same mask as ``prune.l1_unstructured`` when
    no two magnitudes tie.
    """
    return score_mask(weight.detach().abs(), sparsity)


def global_masks(scores: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """One ranking across all tensors: remove the ``round(sparsity · Σn)`` lowest scores overall.

    Per-layer sparsities then differ (layers with small scores lose more). Ties broken by the
    position in the concatenation (dict order, then flat index).
    """
    flat = torch.cat([s.detach().flatten() for s in scores.values()])
    mask, out, start = score_mask(flat, sparsity), {}, 0
    for name, s in scores.items():
        out[name] = mask[start:start + s.numel()].view_as(s)
        start += s.numel()
    return out


def sparsity_of(tensors) -> float:
    """Fraction of exact zeros over the given tensors (weights or masks)."""
    tensors = list(tensors.values()) if isinstance(tensors, dict) else list(tensors)
    total = sum(t.numel() for t in tensors)
    return sum(int((t == 0).sum()) for t in tensors) / max(total, 1)


def prunable_layers(model: nn.Module, layers=None) -> dict[str, nn.Module]:
    """The ``nn.Linear``/``nn.Conv2d`` modules of ``model`` by name, or those named in ``layers``."""
    return find_layers(model, PRUNABLE, layers, kind="prunable")
