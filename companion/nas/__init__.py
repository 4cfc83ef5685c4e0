"""Neural architecture search (survey §3.2): a search space, a shipped tabular benchmark and the strategies.

Re-exports only; importing it has no side effects.
"""
from .protocol import Protocol, split, train_arch
from .space import OPS, WIDTHS, Network, SearchSpace, make_op
from .table import TABLE_DIR, Table, TableError, load_table, save_table, verify

__all__ = ["Protocol", "split", "train_arch", "OPS", "WIDTHS", "Network", "SearchSpace", "make_op",
           "TABLE_DIR", "Table", "TableError", "load_table", "save_table", "verify"]
