"""Search strategies over a common ask/tell interface, and repeated runs for comparing them at equal budget."""
from __future__ import annotations

import numpy as np

from .base import History, Strategy, run_search
from .evolution import RegularizedEvolution
from .local_search import LocalSearch
from .random_search import RandomSearch
from .reinforce import Reinforce

STRATEGIES = {"random": RandomSearch, "evolution": RegularizedEvolution, "reinforce": Reinforce, "local": LocalSearch}


def make_strategy(name: str, cardinalities, seed: int = 0, **options) -> Strategy:
    """The strategy ``name`` (one of :data:`STRATEGIES`) over a space of ``cardinalities``."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](cardinalities, seed=seed, **options)


def repeat_search(name: str, objective, cardinalities, *, runs: int, budget: int, seed: int = 0,
                  **options) -> list[History]:
    """``runs`` independent searches of ``budget`` queries; run r uses seed ``seed + r`` for every strategy
    (common random numbers: runs of two strategies with the same r are paired)."""
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    return [run_search(make_strategy(name, cardinalities, seed + r, **options), objective, budget) for r in range(runs)]


def regret_curves(histories: list[History], best_value: float) -> np.ndarray:
    """Simple regret after each query, ``best_value − incumbent`` (runs × budget); never increases along a run."""
    return best_value - np.stack([h.best_so_far() for h in histories])


__all__ = ["History", "Strategy", "run_search", "RegularizedEvolution", "LocalSearch", "RandomSearch", "Reinforce",
           "STRATEGIES", "make_strategy", "repeat_search", "regret_curves"]
