"""Statistics for comparing searches, in numpy only: rank correlations, bootstrap intervals, the sign test.

Kendall's τ-b and Spearman's ρ measure how well one ranking of architectures (a supernet's, a latency
model's) agrees with another (the table's, measured latency); the bootstrap gives them an interval; the
sign test compares two strategies run on the same seeds (paired), without assuming a distribution.
"""
from __future__ import annotations

import math

import numpy as np


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2, got shapes {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite (no NaN or inf)")
    return x, y


def rankdata(x) -> np.ndarray:
    """Ranks 1..n of ``x``, ties given the average of the ranks they span (``[10, 20, 20]`` → ``[1, 2.5, 2.5]``)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end + 1) / 2   # mean of ranks start+1 .. end
            start = end
    return ranks


def spearman(x, y) -> float:
    """Spearman's ρ: Pearson's correlation of the ranks (ties averaged). 1 = same order, −1 = reversed."""
    rx, ry = (rankdata(v) for v in _pair(x, y))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt((rx @ rx) * (ry @ ry))
    return float(rx @ ry / denom) if denom > 0 else float("nan")


def kendall_tau(x, y) -> float:
    """Kendall's τ-b: ``(C − D) / sqrt((n₀ − n₁)(n₀ − n₂))`` over all pairs, C/D concordant/discordant pairs,
    n₀ = n(n−1)/2, n₁ and n₂ the pairs tied in x and in y (Kendall 1945). O(n²), fine for n ≤ a few thousand."""
    x, y = _pair(x, y)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), 1)
    s = float((dx * dy)[upper].sum())        # C − D
    n0 = len(upper[0])
    n1, n2 = float((dx[upper] == 0).sum()), float((dy[upper] == 0).sum())
    denom = math.sqrt((n0 - n1) * (n0 - n2))
    return s / denom if denom > 0 else float("nan")


def bootstrap_ci(statistic, *samples, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Percentile bootstrap: ``(estimate, low, high)`` of ``statistic(*samples)``, resampling the samples'
    entries *together* (paired) ``n_boot`` times with a seeded generator (Efron & Tibshirani 1993). Resamples
    where the statistic is undefined (NaN) are skipped; if all are, the interval is (NaN, NaN)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    arrays = [np.asarray(s, float) for s in samples]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays) or n < 2:
        raise ValueError(f"samples must have the same length >= 2, got {[len(a) for a in arrays]}")
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        value = statistic(*(a[idx] for a in arrays))
        if np.isfinite(value):
            stats.append(value)
    if not stats:   # e.g. a correlation of constant samples: undefined, and so is its interval
        return float(statistic(*arrays)), float("nan"), float("nan")
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(statistic(*arrays)), float(lo), float(hi)


def sign_test(a, b) -> dict:
    """One-sided paired sign test of "``a`` is lower than ``b``": ``p = P(W ≥ wins)`` for W ~ Binomial(n, ½),
    where ``wins`` counts pairs with a < b and n the pairs that differ (ties dropped). Exact, no normal
    approximation. Returns ``{wins, losses, ties, p}``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D of the same length (paired runs), got {a.shape} and {b.shape}")
    wins, losses = int((a < b).sum()), int((a > b).sum())
    n = wins + losses
    p = sum(math.comb(n, k) for k in range(wins, n + 1)) / 2 ** n if n else 1.0
    return {"wins": wins, "losses": losses, "ties": len(a) - n, "p": float(p)}


def mean_ci(values, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` and the half-width of its normal-approximation interval, ``z · s / sqrt(n)``
    (z = 1.96 for 95 %); for many runs (n ≳ 30)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    values = np.asarray(values, float)
    n = values.shape[axis]
    if n < 2:
        raise ValueError(f"need at least 2 runs for an interval, got {n}")
    z = _normal_quantile((1 + level) / 2)
    return values.mean(axis), z * values.std(axis, ddof=1) / math.sqrt(n)


def _normal_quantile(p: float) -> float:
    """Quantile of the standard normal, by bisection on ``erf`` (exact to 1e-12)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p else (lo, mid)
    return (lo + hi) / 2


def top_k_overlap(x, y, k: int) -> float:
    """Fraction of the ``k`` highest entries of ``x`` that are also among the ``k`` highest of ``y``."""
    x, y = _pair(x, y)
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be in [1, {len(x)}], got {k}")
    top = lambda v: set(np.argsort(-v, kind="mergesort")[:k].tolist())  # noqa: E731
    return len(top(x) & top(y)) / k
