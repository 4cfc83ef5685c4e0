"""The lottery ticket hypothesis (Frankle & Carbin 2019): iterative magnitude pruning with rewinding."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from .masks import prunable_layers, score_mask
from .pruner import PruneConfig, Pruner, with_masks


@dataclass(frozen=True)
class LotteryConfig:
    """Frankle & Carbin's iterative magnitude pruning with rewinding: ``rounds`` of train → prune
    ``rate`` of the remaining weights of each layer (``output_rate`` for the last; ``None`` = rate/2,
    as in the paper) → rewind the survivors to their initial values."""

    rounds: int = 5
    rate: float = 0.5
    output_rate: float | None = None

    def __post_init__(self):
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        for name, r in (("rate", self.rate), ("output_rate", self.output_rate)):
            if r is not None and not 0.0 < r < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {r}")


def lottery_ticket(make_model, train_fn, evaluate_fn, config: LotteryConfig, seed: int = 0) -> list[dict]:
    """Winning tickets vs random re-initialisation (Frankle & Carbin 2019), one row per round.

    ``make_model(seed)`` builds a freshly initialised model; ``train_fn(model, pruner)`` trains it
    in place with ``pruner`` as step callback; ``evaluate_fn(model) -> accuracy``. Round 0 trains
    the dense net from θ₀; round r trains θ₀ ⊙ m_r (the ticket) and, with the same mask, a new
    random initialisation (``seed + 1000 + r``). Masks come from the trained ticket of the round before.
    """
    init = copy.deepcopy(make_model(seed).state_dict())
    names = list(prunable_layers(make_model(seed)))
    rates = {n: config.rate for n in names}
    rates[names[-1]] = config.output_rate or config.rate / 2
    masks, rows = None, []
    for r in range(config.rounds + 1):
        ticket = make_model(seed)
        ticket.load_state_dict(init)
        pruner = with_masks(ticket, masks) if masks else Pruner(ticket, PruneConfig(sparsity=0.0))
        train_fn(ticket, pruner)
        row = {"round": r, "sparsity": pruner.sparsity(), "ticket_accuracy": evaluate_fn(ticket),
               "reinit_accuracy": None}
        if masks:
            reinit = make_model(seed + 1000 + r)
            train_fn(reinit, with_masks(reinit, masks))
            row["reinit_accuracy"] = evaluate_fn(reinit)
        rows.append(row)
        scores = {n: m.weight.detach().abs().masked_fill(~pruner.masks[n].to(m.weight.device), float("-inf"))
                  for n, m in pruner.layers.items()}
        masks = {n: score_mask(s, 1 - (1 - rates[n]) ** (r + 1)) for n, s in scores.items()}
    return rows
