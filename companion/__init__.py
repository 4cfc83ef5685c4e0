"""companion: the library behind the notebooks of the survey companion.

Re-exports only; importing it has no side effects (no seeding, no global settings, no downloads).
"""
from .data import DATASETS, DatasetError, Splits, load_dataset
from .measure import (ArtifactSize, Latency, analytic_size_bytes, compare_latency, count_macs, count_params,
                      environment, latency_ms, profile, size_bytes)
from .models import LeNet5, LeNet300, ResNetSmall, build_model
from .plots import pareto_front, save_figure, tradeoff_plot
from .results import SCHEMA, collect, make_row, record
from .train import TrainConfig, evaluate, fit, resolve_device, seed_everything, train_cached

__version__ = "0.1.0"
__all__ = [
    "DATASETS", "DatasetError", "Splits", "load_dataset",
    "ArtifactSize", "Latency", "analytic_size_bytes", "compare_latency", "count_macs", "count_params",
    "environment", "latency_ms", "profile", "size_bytes",
    "LeNet5", "LeNet300", "ResNetSmall", "build_model",
    "pareto_front", "save_figure", "tradeoff_plot",
    "SCHEMA", "collect", "make_row", "record",
    "TrainConfig", "evaluate", "fit", "resolve_device", "seed_everything", "train_cached",
]
