"""The interface every search strategy follows: ``ask()`` proposes an architecture, ``tell(arch, value)`` reports
its score; :func:`run_search` spends a query budget on an objective (a table look-up or real training).

An architecture is a tuple of decisions (see :mod:`companion.nas.space`); a strategy knows only the number of
options of each decision, so the same code searches the benchmark table, a synthetic table in the tests and
live training in the notebook.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..space import check_arch, sample


class Strategy:
    """Base class: ``cardinalities`` (options per decision) and a seeded ``numpy`` generator ``rng``."""

    name = "strategy"

    def __init__(self, cardinalities, seed: int = 0):
        self.cardinalities = tuple(int(c) for c in cardinalities)
        if not self.cardinalities or any(c < 1 for c in self.cardinalities):
            raise ValueError(f"cardinalities must be a non-empty list of option counts >= 1, got {cardinalities}")
        self.rng = np.random.default_rng(seed)

    def ask(self) -> tuple[int, ...]:
        raise NotImplementedError

    def tell(self, arch: tuple[int, ...], value: float) -> None:
        """Most strategies learn from what they are told; random search does not."""

    def random_arch(self) -> tuple[int, ...]:
        return sample(self.cardinalities, self.rng)


@dataclass
class History:
    """Every query of one search, in order: the architectures and their values."""

    archs: list[tuple[int, ...]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def best_so_far(self) -> np.ndarray:
        """The incumbent's value after each query (a running maximum): never decreases."""
        return np.maximum.accumulate(np.asarray(self.values, float))

    def best(self) -> tuple[tuple[int, ...], float]:
        """The best architecture found (the first one, on ties) and its value."""
        i = int(np.argmax(self.values))
        return self.archs[i], self.values[i]


def run_search(strategy: Strategy, objective: Callable, budget: int) -> History:
    """Ask, evaluate, tell, ``budget`` times. Every query counts, repeats included (as training would).

    Raises ValueError for a budget below 1 or a proposal outside the space (a strategy bug, caught here).
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be an integer >= 1 (queries), got {budget!r}")
    history = History()
    for _ in range(int(budget)):
        arch = check_arch(strategy.ask(), strategy.cardinalities)
        value = float(objective(arch))
        strategy.tell(arch, value)
        history.archs.append(arch)
        history.values.append(value)
    return history
