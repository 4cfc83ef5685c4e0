"""Fixtures of the NAS tests: a synthetic table with a known optimum, written in the real format."""
import numpy as np
import pytest

from companion.nas import Protocol, SearchSpace, Table, save_table


def synthetic_columns(space: SearchSpace, seed: int = 0) -> dict:
    """An additive landscape with one interaction and small noise: a unique, known best architecture."""
    rng = np.random.default_rng(seed)
    archs = space.all()
    effects = [rng.normal(0, 0.02, c) for c in space.cardinalities]
    val = np.array([0.7 + sum(e[a] for e, a in zip(effects, arch)) for arch in archs])
    val += 0.01 * np.array([arch[0] == arch[2] for arch in archs]) + rng.normal(0, 0.002, len(archs))
    return {"index": np.arange(space.size), "name": [space.name(a) for a in archs], "val_accuracy": val,
            "test_accuracy": val - 0.01 + rng.normal(0, 0.003, len(archs)),
            "params": np.array([1000 + 10 * sum(a) for a in archs]), "macs": np.array([10**5 * (1 + sum(a)) for a in archs]),
            "latency_ms": np.array([0.1 + 0.01 * sum(a) for a in archs]), "busy_other": np.zeros(len(archs)),
            "train_seconds": np.ones(len(archs))}


@pytest.fixture(scope="session")
def space():
    return SearchSpace()


@pytest.fixture(scope="session")
def table(space):
    return Table(space, synthetic_columns(space), Protocol().as_dict(), {"cpu": "synthetic"})


@pytest.fixture
def table_dir(tmp_path, table):
    save_table(table, tmp_path / "table")
    return tmp_path / "table"
