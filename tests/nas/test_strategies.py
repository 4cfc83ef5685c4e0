import numpy as np
import pytest

from companion.nas.space import check_arch
from companion.nas.strategies import (STRATEGIES, LocalSearch, RegularizedEvolution, Reinforce, make_strategy,
                                      regret_curves, repeat_search, run_search)


def guarded(table, seen):
    """The table's objective, refusing any architecture outside the space (and recording what was asked)."""
    def objective(arch):
        check_arch(arch, table.space.cardinalities)
        seen.append(arch)
        return table.query(arch)
    return objective


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_each_strategy_finds_the_known_optimum_with_enough_budget(name, table):
    best_arch, best = table.best()
    found = 0
    for seed in range(5):
        seen = []
        history = run_search(make_strategy(name, table.space.cardinalities, seed), guarded(table, seen), 400)
        assert len(seen) == 400 and all(len(a) == 6 for a in seen)
        found += history.best() == (best_arch, best)
    assert found >= 4, f"{name} found the optimum in {found} of 5 runs of 400 queries"


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_regret_never_increases_and_ends_at_zero_for_exhaustive_budget(name, table):
    histories = repeat_search(name, table.query, table.space.cardinalities, runs=3, budget=60, seed=0)
    regret = regret_curves(histories, table.best()[1])
    assert regret.shape == (3, 60) and (np.diff(regret, axis=1) <= 0).all() and (regret >= 0).all()


def test_searches_are_reproducible_and_runs_differ(table):
    a = repeat_search("evolution", table.query, table.space.cardinalities, runs=2, budget=30, seed=7)
    b = repeat_search("evolution", table.query, table.space.cardinalities, runs=2, budget=30, seed=7)
    assert [h.archs for h in a] == [h.archs for h in b] and a[0].archs != a[1].archs


def test_random_search_does_not_repeat(table):
    h = run_search(make_strategy("random", table.space.cardinalities, 0), table.query, 300)
    assert len(set(h.archs)) == 300


def test_evolution_mutates_the_tournament_winner_and_ages_out_the_oldest():
    evo = RegularizedEvolution((5, 5), population=3, sample=3, seed=0)
    for arch, v in [((0, 0), 0.1), ((2, 2), 0.9), ((4, 4), 0.2)]:
        evo.tell(arch, v)
    children = [evo.ask() for _ in range(300)]
    hops = lambda a, b: sum(x != y for x, y in zip(a, b))  # noqa: E731
    assert all(min(hops(c, m) for m in [(0, 0), (2, 2), (4, 4)]) == 1 for c in children)
    # the best member wins any sample that holds it: P = 1 - (2/3)^3 = 0.70 with replacement
    assert 0.6 < np.mean([hops(c, (2, 2)) == 1 for c in children]) < 0.8
    evo.tell((0, 1), 0.0)
    assert [m[0] for m in evo.population] == [(2, 2), (4, 4), (0, 1)]   # (0, 0), the oldest, is gone


def test_reinforce_policy_moves_towards_rewarded_choices():
    r = Reinforce((2,), lr=0.05, entropy=0.0, seed=0)
    for _ in range(100):
        a = r.ask()
        r.tell(a, 1.0 if a == (1,) else 0.0)
    assert r.policy()[0][1] > 0.9
    assert all(abs(p.sum() - 1) < 1e-9 for p in r.policy())


def test_local_search_climbs_to_a_local_optimum_then_restarts():
    values = {(a, b): -(a - 2) ** 2 - (b - 1) ** 2 for a in range(4) for b in range(3)}   # one optimum (2, 1)
    h = run_search(LocalSearch((4, 3), seed=1), values.__getitem__, 12)
    assert (2, 1) in h.archs and len(set(h.archs)) == 12


def test_bad_input_raises_clear_errors(table):
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        run_search(make_strategy("random", (2, 2)), table.query, 0)
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        run_search(make_strategy("random", (2, 2)), table.query, 2.5)
    with pytest.raises(ValueError, match="unknown strategy 'bayesian'"):
        make_strategy("bayesian", (2, 2))
    with pytest.raises(ValueError, match="sample <= population"):
        RegularizedEvolution((2, 2), population=3, sample=5)
    with pytest.raises(ValueError, match="cardinalities"):
        make_strategy("local", ())
    with pytest.raises(ValueError, match="runs must be >= 1"):
        repeat_search("random", table.query, (2,), runs=0, budget=3)

    class Broken(RegularizedEvolution):
        def ask(self):
            return (9, 9)
    with pytest.raises(ValueError, match="not in the space"):
        run_search(Broken((2, 2)), lambda a: 0.0, 3)
