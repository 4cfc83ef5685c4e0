"""Random search: the baseline every NAS method must beat (Bergstra & Bengio 2012; Li & Talwalkar 2019)."""
from __future__ import annotations

from .base import Strategy


class RandomSearch(Strategy):
    """Uniformly random architectures, without repeats until the space is exhausted."""

    name = "random"

    def __init__(self, cardinalities, seed: int = 0):
        super().__init__(cardinalities, seed)
        self.seen: set[tuple[int, ...]] = set()

    def ask(self) -> tuple[int, ...]:
        arch = self.random_arch()
        for _ in range(1000):   # rejection sampling; a space this small is never exhausted by a search
            if arch not in self.seen:
                break
            arch = self.random_arch()
        self.seen.add(arch)
        return arch
