"""Regularized (aging) evolution, Real et al. 2019 ("Regularized Evolution for Image Classifier Architecture
Search", AAAI), Algorithm 1.

A population of ``population`` architectures; each cycle picks ``sample`` members at random (with replacement),
mutates the best of them in one decision, evaluates the child, adds it and removes the **oldest** member (not
the worst): an architecture survives only by having good descendants, which is what regularizes the search
against lucky evaluations. Defaults population 10, sample 3 as NATS-Bench's ``regularized_ea.py``.
"""
from __future__ import annotations

from collections import deque

from ..space import mutate
from .base import Strategy


class RegularizedEvolution(Strategy):
    name = "evolution"

    def __init__(self, cardinalities, population: int = 10, sample: int = 3, seed: int = 0):
        super().__init__(cardinalities, seed)
        if population < 1 or not 1 <= sample <= population:
            raise ValueError(f"need population >= 1 and 1 <= sample <= population, got {population} and {sample}")
        self.population_size, self.sample_size = population, sample
        self.population: deque = deque()   # (arch, value), oldest first

    def ask(self) -> tuple[int, ...]:
        if len(self.population) < self.population_size:
            return self.random_arch()       # the initial population is random
        picks = self.rng.integers(0, len(self.population), self.sample_size)
        parent = max((self.population[i] for i in picks), key=lambda member: member[1])
        return mutate(parent[0], self.cardinalities, self.rng)

    def tell(self, arch, value) -> None:
        self.population.append((arch, value))
        if len(self.population) > self.population_size:
            self.population.popleft()       # aging: the oldest dies, whatever its value
