"""The stateful pruner: one mask per layer weight, computed by a criterion, kept applied, and a schedule.

Pruning sets weights to zero and keeps them there (Han et al. 2015: train → prune → retrain). Criterion,
scope and schedule are independent: any criterion goes with any scope and any schedule (one-shot, or Zhu &
Gupta's (2017) polynomial ramp applied every few optimizer steps). Masking alone changes neither the bytes
of a ``state_dict`` nor the speed of a dense matmul: see :mod:`companion.pruning.sparse` for a format and
kernels that do.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .masks import CRITERIA, SCOPES, _check_sparsity, global_masks, prunable_layers, score_mask, sparsity_of
from .obd import obd_saliency


def polynomial_sparsity(step: int, final_sparsity: float, begin_step: int, end_step: int,
                        initial_sparsity: float = 0.0, power: float = 3.0) -> float:
    """Zhu & Gupta's (2017) gradual schedule: ``s_t = s_f + (s_i − s_f)(1 − (t − t_0)/(t_1 − t_0))^power``.

    ``s_i`` before ``begin_step`` (t_0), ``s_f`` from ``end_step`` (t_1) on; the cubic ramp
    prunes fast while there are many redundant weights and slowly near the target.
    """
    _check_sparsity(final_sparsity, "final_sparsity")
    _check_sparsity(initial_sparsity, "initial_sparsity")
    if not 0 <= begin_step < end_step:
        raise ValueError(f"need 0 <= begin_step < end_step, got begin_step={begin_step}, end_step={end_step}")
    if power <= 0:
        raise ValueError(f"power must be > 0, got {power}")
    progress = min(max((step - begin_step) / (end_step - begin_step), 0.0), 1.0)
    return final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - progress) ** power


@dataclass(frozen=True)
class PruneConfig:
    """What to prune and how: target ``sparsity`` (fraction of zeros), ``criterion``, ``scope``.

    ``layers``: names of the ``nn.Linear``/``nn.Conv2d`` modules to prune (``None`` = all of them).
    ``seed`` drives the ``random`` criterion only.
    """

    sparsity: float = 0.9
    criterion: str = "magnitude"
    scope: str = "layer"
    layers: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self):
        _check_sparsity(self.sparsity)
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(self.layers))


@dataclass(frozen=True)
class GradualConfig:
    """Zhu & Gupta's schedule in optimizer steps: ramp from ``initial_sparsity`` at ``begin_step``
    to the config's sparsity at ``end_step``, updating the masks every ``frequency`` steps."""

    begin_step: int = 0
    end_step: int = 1000
    frequency: int = 10
    initial_sparsity: float = 0.0
    power: float = 3.0

    def __post_init__(self):
        if not 0 <= self.begin_step < self.end_step:
            raise ValueError(f"need 0 <= begin_step < end_step, got {self.begin_step}, {self.end_step}")
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1 step, got {self.frequency}")
        _check_sparsity(self.initial_sparsity, "initial_sparsity")
        if self.power <= 0:
            raise ValueError(f"power must be > 0, got {self.power}")


class Pruner:
    """Holds one mask per layer weight, computes them with a criterion and keeps them applied.

    Use it as ``fit(..., step_callback=pruner)``: after every optimizer step it re-applies the
    masks (weights stay zero), and with a :class:`GradualConfig` it also raises the sparsity on
    Zhu & Gupta's schedule every ``frequency`` steps. Pruned weights stay pruned (masks only
    shrink). For ``criterion="obd"`` pass ``hessian`` (``{layer: diag}``, see
    :func:`gauss_newton_diagonal`) or ``hessian_fn(model) -> that dict``.
    """

    def __init__(self, model: nn.Module, config: PruneConfig, gradual: GradualConfig | None = None,
                 hessian: dict | None = None, hessian_fn=None):
        self.model, self.config, self.gradual = model, config, gradual
        self.layers = prunable_layers(model, config.layers)
        if config.criterion == "obd" and hessian is None and hessian_fn is None:
            raise ValueError("criterion 'obd' needs hessian={layer: diagonal} or hessian_fn(model)")
        self.hessian, self.hessian_fn = hessian, hessian_fn
        self.masks = {n: torch.ones_like(m.weight, dtype=torch.bool) for n, m in self.layers.items()}
        self._generator = torch.Generator().manual_seed(config.seed)

    def scores(self) -> dict[str, torch.Tensor]:
        """The criterion's score of every weight; already-pruned weights score ``-inf``."""
        if self.config.criterion == "obd" and self.hessian_fn is not None:
            self.hessian = self.hessian_fn(self.model)
        out = {}
        for name, m in self.layers.items():
            w = m.weight.detach()
            if self.config.criterion == "magnitude":
                s = w.abs()
            elif self.config.criterion == "obd":
                s = obd_saliency(w, self.hessian[name].to(w.device))
            else:
                s = torch.rand(w.shape, generator=self._generator).to(w.device)
            out[name] = s.masked_fill(~self.masks[name].to(w.device), float("-inf"))
        return out

    @torch.no_grad()
    def prune_(self, sparsity: float | None = None) -> dict[str, torch.Tensor]:
        """Recompute the masks at ``sparsity`` (default: the config's) and apply them; returns masks.

        Masks are monotone: the new mask is ANDed with the old one, so a pruned weight stays pruned even
        when ``sparsity`` is lower than the current one (the sparsity then stays where it was).
        """
        sparsity = self.config.sparsity if sparsity is None else sparsity
        scores = self.scores()
        if self.config.scope == "global":
            new = global_masks(scores, sparsity)
        else:
            new = {n: score_mask(s, sparsity) for n, s in scores.items()}
        self.masks = {n: new[n] & self.masks[n].to(new[n].device) for n in new}
        self.apply_()
        return self.masks

    @torch.no_grad()
    def apply_(self) -> None:
        """Zero the pruned weights in place: ``w ← w ⊙ mask`` (masks follow the weights' device)."""
        for name, m in self.layers.items():
            if self.masks[name].device != m.weight.device:
                self.masks[name] = self.masks[name].to(m.weight.device)
            m.weight.mul_(self.masks[name])

    def __call__(self, model: nn.Module, step: int) -> None:
        """``fit``'s ``step_callback``: raise the sparsity on schedule, then re-apply the masks."""
        g = self.gradual
        if g is not None and g.begin_step <= step <= g.end_step + g.frequency - 1 \
                and (step - g.begin_step) % g.frequency == 0:
            self.prune_(self.target(step))
        self.apply_()

    def target(self, step: int) -> float:
        """The scheduled sparsity at ``step`` (the config's sparsity when there is no schedule)."""
        g = self.gradual
        if g is None:
            return self.config.sparsity
        return polynomial_sparsity(step, self.config.sparsity, g.begin_step, g.end_step,
                                   g.initial_sparsity, g.power)

    def sparsity(self) -> float:
        """The current fraction of zeros over the pruned layers' weights."""
        return sparsity_of([m.weight.detach() for m in self.layers.values()])

    def layer_sparsity(self) -> dict[str, float]:
        """The current fraction of zeros of each pruned layer's weight."""
        return {n: sparsity_of([m.weight.detach()]) for n, m in self.layers.items()}


def prune_(model: nn.Module, config: PruneConfig, **kwargs) -> Pruner:
    """One-shot pruning in place: compute the masks of ``config`` and apply them.

    Returns the :class:`Pruner`, to pass as ``fit(..., step_callback=pruner)`` while fine-tuning.
    """
    pruner = Pruner(model, config, **kwargs)
    pruner.prune_()
    return pruner


def with_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> Pruner:
    """A :class:`Pruner` holding given ``masks`` (``{layer: bool}``), applied to ``model`` at once."""
    pruner = Pruner(model, PruneConfig(sparsity=0.0, layers=tuple(masks)))
    pruner.masks = {n: m.clone().to(pruner.layers[n].weight.device) for n, m in masks.items()}
    pruner.apply_()
    return pruner
