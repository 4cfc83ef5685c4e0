"""Workflows around the pruner: prune-and-retrain on one budget for every schedule, layer sensitivity."""
from __future__ import annotations

import copy
from dataclasses import replace

from torch import nn

from .masks import prunable_layers
from .pruner import GradualConfig, PruneConfig, Pruner, polynomial_sparsity, prune_

SCHEDULES = ("one-shot", "iterative", "gradual")


def cycle_epochs(epochs: int, cycles: int) -> list[int]:
    """The retraining epochs of each of ``cycles`` prune → retrain cycles, summing exactly to ``epochs``.

    The remainder ``epochs % cycles`` goes to the last cycles (those at the highest sparsity need the most
    recovery): ``cycle_epochs(5, 3) == [1, 2, 2]``. Fewer epochs than cycles is refused: a cycle without
    retraining is not iterative pruning.
    """
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    if epochs < cycles:
        raise ValueError(f"iterative pruning with cycles={cycles} needs epochs >= cycles, got epochs={epochs} "
                         "(lower the cycles or raise the epochs)")
    base, extra = divmod(epochs, cycles)
    return [base + (k >= cycles - extra) for k in range(cycles)]


def gradual_config(steps: int, ramp: float, frequency: int) -> GradualConfig:
    """Zhu & Gupta's schedule over ``steps`` optimizer steps: masks raised every ``frequency`` steps on the cubic
    ramp, whose end is the last update step within the first ``ramp`` of the steps, so the target is reached by
    the schedule itself, inside training."""
    if steps < 2:
        raise ValueError(f"gradual pruning needs at least 2 optimizer steps, got {steps} "
                         "(more data, a smaller batch or more epochs)")
    frequency = min(frequency, steps)
    end = max(frequency, int(ramp * steps) // frequency * frequency)
    return GradualConfig(begin_step=0, end_step=end, frequency=frequency)


def prune_and_finetune(model: nn.Module, config: PruneConfig, train_data, train_config, *, schedule: str = "iterative",
                       cycles: int = 3, ramp: float = 0.5, frequency: int = 10, hessian_fn=None,
                       device="cpu") -> Pruner:
    """Prune ``model`` in place to ``config.sparsity`` while retraining, all schedules on one budget.

    - ``"one-shot"``: prune once, retrain ``train_config.epochs`` with the mask fixed;
    - ``"iterative"``: Han et al.'s prune → retrain cycles, ``cycles`` of them, the k-th pruning to
      Zhu & Gupta's ``polynomial_sparsity(k, s, 0, cycles)``; each retrains its share of the epochs
      (:func:`cycle_epochs`: they sum exactly to ``train_config.epochs``; fewer epochs than cycles is
      an error) with a fresh learning-rate schedule;
    - ``"gradual"``: Zhu & Gupta's per-step version: masks raised every ``frequency`` optimizer
      steps on the cubic ramp over the first ``ramp`` of all steps (:func:`gradual_config`), then
      retraining at the target.
    Masks are re-applied after every optimizer step. Returns the :class:`Pruner`.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not 0.0 < ramp <= 1.0:
        raise ValueError(f"ramp must be in (0, 1], got {ramp}")
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    from .. import train  # module import: companion.train does not need pruning (and tests can observe fit)
    kwargs = {"hessian_fn": hessian_fn} if config.criterion == "obd" else {}
    n = len(train_data) if train_config.max_train is None else min(len(train_data), train_config.max_train)
    steps = train_config.epochs * -(-n // train_config.batch_size)
    if schedule == "iterative":
        pruner = Pruner(model, config, **kwargs)
        for k, epochs in enumerate(cycle_epochs(train_config.epochs, cycles), start=1):
            pruner.prune_(polynomial_sparsity(k, config.sparsity, 0, cycles))
            train.fit(model, train_data, replace(train_config, epochs=epochs), device=device, step_callback=pruner,
                      desc=f"cycle {k}/{cycles}")
        return pruner
    if schedule == "gradual":
        pruner = Pruner(model, config, gradual_config(steps, ramp, frequency), **kwargs)
    else:
        pruner = prune_(model, config, **kwargs)
    train.fit(model, train_data, train_config, device=device, step_callback=pruner,
              desc=f"{schedule} {config.sparsity}")
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
