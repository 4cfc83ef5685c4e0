"""Workflows around the pruner: prune-and-retrain on one budget for every schedule, layer sensitivity."""
from __future__ import annotations

import copy
from dataclasses import replace

from torch import nn

from .masks import prunable_layers
from .pruner import GradualConfig, PruneConfig, Pruner, polynomial_sparsity, prune_

SCHEDULES = ("one-shot", "iterative", "gradual")


def prune_and_finetune(model: nn.Module, config: PruneConfig, train_data, train_config, *, schedule: str = "iterative",
                       cycles: int = 3, ramp: float = 0.5, frequency: int = 10, hessian_fn=None,
                       device="cpu") -> Pruner:
    """Prune ``model`` in place to ``config.sparsity`` while retraining, all schedules on one budget.

    - ``"one-shot"``: prune once, retrain ``train_config.epochs`` with the mask fixed;
    - ``"iterative"``: Han et al.'s prune → retrain cycles, ``cycles`` of them, the k-th pruning to
      Zhu & Gupta's ``polynomial_sparsity(k, s, 0, cycles)``; each retrains ``epochs // cycles``
      epochs with a fresh learning-rate schedule;
    - ``"gradual"``: Zhu & Gupta's per-step version: masks raised every ``frequency`` optimizer
      steps on the cubic ramp over the first ``ramp`` of all steps, then retraining at the target.
    Masks are re-applied after every optimizer step. Returns the :class:`Pruner`.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not 0.0 < ramp <= 1.0:
        raise ValueError(f"ramp must be in (0, 1], got {ramp}")
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    from ..train import fit  # local import: companion.train does not need pruning
    kwargs = {"hessian_fn": hessian_fn} if config.criterion == "obd" else {}
    n = len(train_data) if train_config.max_train is None else min(len(train_data), train_config.max_train)
    steps = train_config.epochs * -(-n // train_config.batch_size)
    if schedule == "iterative" and cycles > 1 and train_config.epochs >= cycles:
        cycle_config = replace(train_config, epochs=train_config.epochs // cycles)
        pruner = Pruner(model, config, **kwargs)
        for k in range(1, cycles + 1):
            pruner.prune_(polynomial_sparsity(k, config.sparsity, 0, cycles))
            fit(model, train_data, cycle_config, device=device, step_callback=pruner, desc=f"cycle {k}/{cycles}")
        return pruner
    if schedule == "gradual" and steps >= 2:
        gradual = GradualConfig(begin_step=0, end_step=max(1, int(ramp * steps)), frequency=min(frequency, steps))
        pruner = Pruner(model, config, gradual, **kwargs)
    else:
        pruner = prune_(model, config, **kwargs)
    fit(model, train_data, train_config, device=device, step_callback=pruner, desc=f"{schedule} {config.sparsity}")
    if pruner.sparsity() < config.sparsity - 1e-3:
        pruner.prune_()  # a gradual schedule cut short by too few steps: reach the target anyway
    return pruner


def layer_sensitivity(model: nn.Module, evaluate_fn, sparsities, layers=None) -> list[dict]:
    """Accuracy when one layer alone is magnitude-pruned, without retraining (Han et al. 2015, Fig. 6).

    ``evaluate_fn(model) -> accuracy``; one row ``{layer, sparsity, accuracy}`` per pair.
    """
    rows = []
    for name in prunable_layers(model, layers):
        for s in sparsities:
            pruned = copy.deepcopy(model)
            prune_(pruned, PruneConfig(sparsity=s, layers=(name,)))
            rows.append({"layer": name, "sparsity": s, "accuracy": evaluate_fn(pruned)})
    return rows
