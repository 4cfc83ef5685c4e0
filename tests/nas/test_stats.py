import math

import numpy as np
import pytest

from companion.nas.stats import bootstrap_ci, kendall_tau, mean_ci, rankdata, sign_test, spearman, top_k_overlap


def test_ranks_average_ties():
    assert rankdata([10, 20, 20, 5]).tolist() == [2, 3.5, 3.5, 1]


def test_kendall_by_hand():
    # x = 1..4, y = (1, 3, 2, 4): pairs 6, one discordant (2,3) -> (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    # tau-b with ties: x = (1, 1, 2), y = (1, 2, 3): C = 2, D = 0, n0 = 3, n1 = 1, n2 = 0 -> 2 / sqrt(2 * 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))


def test_spearman_by_hand():
    # ranks (1,2,3,4) vs (1,3,2,4): d² = 0+1+1+0 = 2 -> 1 - 6·2 / (4·15) = 0.8
    assert spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [1, 4, 9]) == pytest.approx(1)   # monotone, not linear
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_correlations_against_an_independent_pairwise_count():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 40).astype(float), rng.normal(size=40)
    c = d = tx = ty = 0
    for i in range(40):
        for j in range(i + 1, 40):
            s = np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
            c, d = c + (s > 0), d + (s < 0)
            tx, ty = tx + (x[i] == x[j]), ty + (y[i] == y[j])
    n0 = 40 * 39 / 2
    assert kendall_tau(x, y) == pytest.approx((c - d) / math.sqrt((n0 - tx) * (n0 - ty)))
    assert spearman(x, y) == pytest.approx(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def test_sign_test_exact_binomial():
    r = sign_test([0, 0, 0, 1], [1, 1, 1, 1])   # 3 wins, 1 tie -> p = 1/8
    assert (r["wins"], r["losses"], r["ties"]) == (3, 0, 1) and r["p"] == pytest.approx(1 / 8)
    r = sign_test([0, 1, 0, 1, 0], [1, 0, 1, 0, 1])  # 3 wins of 5 -> p = (10 + 5 + 1) / 32
    assert r["p"] == pytest.approx(16 / 32)
    assert sign_test([1, 1], [1, 1])["p"] == 1.0


def test_bootstrap_interval_covers_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = x + rng.normal(size=200)
    est, lo, hi = bootstrap_ci(spearman, x, y, n_boot=300, seed=3)
    assert lo < est < hi and lo > 0.4
    assert bootstrap_ci(spearman, x, y, n_boot=300, seed=3) == (est, lo, hi)


def test_mean_ci_and_top_k():
    m, h = mean_ci(np.array([[0.0, 1.0], [2.0, 3.0]]))
    assert m.tolist() == [1, 2] and h[0] == pytest.approx(1.959964 * math.sqrt(2) / math.sqrt(2), rel=1e-5)
    assert top_k_overlap([1, 2, 3, 4], [4, 3, 2, 1], 2) == 0
    assert top_k_overlap([1, 2, 3, 4], [1, 2, 4, 3], 2) == 1


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        kendall_tau([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(spearman, [1, 2], [1, 2], level=1.5)
    with pytest.raises(ValueError, match="at least 2 runs"):
        mean_ci([[1.0, 2.0]])
    with pytest.raises(ValueError, match="k must be"):
        top_k_overlap([1, 2], [1, 2], 3)


def test_bootstrap_of_an_undefined_statistic_is_nan_not_a_crash():
    est, lo, hi = bootstrap_ci(kendall_tau, [1, 1, 1, 1], [1, 2, 3, 4], n_boot=50)
    assert math.isnan(est) and math.isnan(lo) and math.isnan(hi)
