"""Plots shared by the notebooks: image grids, trade-off plots with their Pareto front, saving."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker
import pandas as pd

LABELS = {"size_bytes": "size on disk (bytes)", "macs": "MACs per image", "latency_ms": "latency (ms)",
          "accuracy": "test accuracy", "params": "parameters", "nonzero_params": "non-zero parameters"}


def pareto_front(x, y) -> np.ndarray:
    """Boolean mask of the points no other point beats: lower or equal ``x`` *and* higher or equal ``y``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.ones(len(x), bool)
    for i in range(len(x)):
        dominated = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        keep[i] = not dominated.any()
    return keep


def tradeoff_plot(df: pd.DataFrame, x: str = "size_bytes", y: str = "accuracy", label: str = "method",
                  logx: bool = True, ax=None, title: str | None = None):
    """Scatter ``y`` against ``x``, one colour per ``label``, Pareto front drawn.

    ``logx``: a log x axis when the values span more than a factor 10 (linear otherwise).
    """
    if x not in df or y not in df:
        raise KeyError(f"columns {x!r} and {y!r} must be in the frame; it has {list(df.columns)}")
    data = df.dropna(subset=[x, y])
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for name, group in data.groupby(label, sort=False):
        ax.scatter(group[x], group[y], label=str(name), s=40, zorder=3)
    front = data[pareto_front(data[x], data[y])].sort_values(x)
    ax.step(front[x], front[y], where="post", color="k", lw=1, ls="--", label="Pareto front", zorder=2)
    xs = data[x].astype(float)
    if logx and xs.min() > 0 and xs.max() / xs.min() > 10:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.xaxis.set_major_formatter(ticker.EngFormatter())
    if y == "accuracy":
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def image_grid(images, labels, classes, per_class: int = 8, ax=None):
    """A grid of ``per_class`` images of each class (rows), for a first look at the data."""
    images, labels = np.asarray(images), np.asarray(labels)
    rows = []
    for c in range(len(classes)):
        idx = np.flatnonzero(labels == c)[:per_class]
        tiles = [np.transpose(images[i], (1, 2, 0)) for i in idx]
        rows.append(np.concatenate(tiles, axis=1))
    grid = np.concatenate(rows, axis=0)
    grid = (grid - grid.min()) / (grid.max() - grid.min() + 1e-12)
    ax = ax or plt.subplots(figsize=(per_class * 0.6, len(classes) * 0.6))[1]
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray")
    h = grid.shape[0] // len(classes)
    ax.set_yticks([h * (i + 0.5) for i in range(len(classes))], classes)
    ax.set_xticks([])
    return ax


def save_figure(fig, stem) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` (folders created) and return both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, bbox_inches="tight", dpi=150 if p.suffix == ".png" else None,
                    metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
    return paths
