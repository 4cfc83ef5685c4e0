"""REINFORCE (Williams 1992) with a factorised policy: one independent categorical distribution per decision.

Zoph & Le (2017) used an **RNN controller** whose decisions depend on the previous ones; here each decision has
its own logits θ_d, p_d = softmax(θ_d) (as NATS-Bench's ``reinforce.py``). After each reward R the logits move
along the policy gradient ``(R − b) ∇ log π(a)`` with ``∇_θd log π(a) = onehot(a_d) − p_d``, plus a small
entropy bonus, with Adam (lr 0.01, as NATS-Bench); b is an exponential moving average of the rewards (decay 0.9).
"""
from __future__ import annotations

import numpy as np

from .base import Strategy


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


def adam_step(param: np.ndarray, grad: np.ndarray, state: dict, lr: float, betas=(0.9, 0.999), eps=1e-8) -> None:
    """One Adam *ascent* step on ``param`` in place (Kingma & Ba 2015); ``state`` holds m, v and the step t."""
    state["t"] = state.get("t", 0) + 1
    state["m"] = betas[0] * state.get("m", 0) + (1 - betas[0]) * grad
    state["v"] = betas[1] * state.get("v", 0) + (1 - betas[1]) * grad ** 2
    m_hat = state["m"] / (1 - betas[0] ** state["t"])
    v_hat = state["v"] / (1 - betas[1] ** state["t"])
    param += lr * m_hat / (np.sqrt(v_hat) + eps)


class Reinforce(Strategy):
    name = "reinforce"

    def __init__(self, cardinalities, lr: float = 0.01, baseline_decay: float = 0.9, entropy: float = 1e-3,
                 seed: int = 0):
        super().__init__(cardinalities, seed)
        if not lr > 0 or not 0 <= baseline_decay < 1 or entropy < 0:
            raise ValueError(f"need lr > 0, baseline_decay in [0, 1), entropy >= 0; got {lr}, {baseline_decay}, {entropy}")
        self.lr, self.decay, self.entropy = lr, baseline_decay, entropy
        self.logits = [np.zeros(c) for c in self.cardinalities]
        self.states = [{} for _ in self.cardinalities]
        self.baseline: float | None = None

    def policy(self) -> list[np.ndarray]:
        """The probabilities of each decision's options."""
        return [softmax(t) for t in self.logits]

    def ask(self) -> tuple[int, ...]:
        return tuple(int(self.rng.choice(len(p), p=p)) for p in self.policy())

    def tell(self, arch, reward) -> None:
        self.baseline = reward if self.baseline is None else self.decay * self.baseline + (1 - self.decay) * reward
        advantage = reward - self.baseline
        for theta, state, p, a in zip(self.logits, self.states, self.policy(), arch):
            grad = -p * advantage
            grad[a] += advantage                                              # (R − b)(onehot − p)
            grad += self.entropy * -p * (np.log(p + 1e-12) + entropy_of(p))   # ∂H/∂θ
            adam_step(theta, grad, state, self.lr)


def entropy_of(p: np.ndarray) -> float:
    return float(-(p * np.log(p + 1e-12)).sum())
