"""companion: the library behind the notebooks of the survey companion.

Layout: the shared core is flat (``data``, ``models``, ``train``, ``measure``, ``results``, ``plots``,
``params``, and the plumbing ``io``, ``layers``, ``compat``); bit-level file formats shared by sections
live in ``companion.formats``; each survey section is a subpackage (``distillation``, ``pruning``,
``quantization``, ``hashing``, ``precision``, ``binarization``, ``architectures``, ``nas``) and the sweep
engine is ``companion.sweep``.

Re-exports only; importing it has no side effects (no seeding, no global settings, no downloads, and
neither pyplot nor pandas is imported).
"""
from .data import DATASETS, DatasetError, Splits, load_dataset
from .measure import (ArtifactSize, Latency, analytic_size_bytes, compare_latency, count_macs, count_params,
                      environment, latency_fields, latency_ms, latency_table, print_conditions, profile, size_bytes)
from .models import LeNet5, LeNet300, ResNetSmall, build_model
from .plots import pareto_front, save_figure, tradeoff_plot
from .results import SCHEMA, collect, make_row, record, show
from .train import TrainConfig, evaluate, fit, resolve_device, seed_everything, train_cached

__version__ = "0.1.0"
__all__ = [
    "DATASETS", "DatasetError", "Splits", "load_dataset",
    "ArtifactSize", "Latency", "analytic_size_bytes", "compare_latency", "count_macs", "count_params",
    "environment", "latency_fields", "latency_ms", "latency_table", "print_conditions", "profile", "size_bytes",
    "LeNet5", "LeNet300", "ResNetSmall", "build_model",
    "pareto_front", "save_figure", "tradeoff_plot",
    "SCHEMA", "collect", "make_row", "record", "show",
    "TrainConfig", "evaluate", "fit", "resolve_device", "seed_everything", "train_cached",
]
