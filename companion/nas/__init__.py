"""Neural architecture search (survey §3.2): a search space, a shipped tabular benchmark, search strategies,
weight sharing (one-shot, DARTS) and hardware-aware search with latency measured on this CPU.

Files: ``space`` (the space, encoding, networks), ``protocol`` (the table's training recipe), ``table`` (the
shipped benchmark), ``build`` (the table builder, through the sweep engine), ``strategies`` (random search,
regularized evolution, REINFORCE, local search over ask/tell), ``oneshot`` (SPOS supernet), ``darts``
(first-order DARTS with a latency penalty), ``hardware`` (per-op latency LUT, MnasNet reward), ``stats``
(rank correlations, bootstrap, sign test). Re-exports only; importing it has no side effects.
"""
from . import stats, strategies
from .darts import DartsConfig, DartsNet, derive, expected_latency
from .darts import search as darts_search
from .hardware import (block_latency_matrix, lut_keys, lut_modules, measure_archs, measure_lut, mnas_reward,
                       predict_latency)
from .oneshot import OneShotConfig, Supernet, path_accuracy, recalibrate_bn_, train_supernet
from .protocol import Protocol, split, train_arch
from .space import OPS, WIDTHS, Network, SearchSpace, make_op
from .strategies import (STRATEGIES, History, LocalSearch, RandomSearch, RegularizedEvolution, Reinforce, Strategy,
                         make_strategy, regret_curves, repeat_search, run_search)
from .table import TABLE_DIR, Table, TableError, load_table, save_table, verify

__all__ = [
    "stats", "strategies",
    "DartsConfig", "DartsNet", "derive", "expected_latency", "darts_search",
    "block_latency_matrix", "lut_keys", "lut_modules", "measure_archs", "measure_lut", "mnas_reward", "predict_latency",
    "OneShotConfig", "Supernet", "path_accuracy", "recalibrate_bn_", "train_supernet",
    "Protocol", "split", "train_arch",
    "OPS", "WIDTHS", "Network", "SearchSpace", "make_op",
    "STRATEGIES", "History", "LocalSearch", "RandomSearch", "RegularizedEvolution", "Reinforce", "Strategy",
    "make_strategy", "regret_curves", "repeat_search", "run_search",
    "TABLE_DIR", "Table", "TableError", "load_table", "save_table", "verify",
]
