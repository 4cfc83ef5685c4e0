"""Plots shared by the notebooks: one colour and marker per method everywhere, trade-off plots with their
Pareto front, image grids, saving.

matplotlib is imported on first use, so ``import companion`` stays light and changes no global setting.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

LABELS = {"size_bytes": "size on disk (bytes)", "macs": "MACs per image", "latency_ms": "latency (ms)",
          "accuracy": "test accuracy", "params": "parameters", "nonzero_params": "non-zero parameters",
          "sparsity": "sparsity", "bits": "bits per weight", "speedup": "speed-up (×)"}
# One fixed look per method family, the same in every panel and every notebook.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
STYLES: dict[str, dict] = {
    "dense": {"color": "#000000", "marker": "o"},
    "baseline": {"color": "#000000", "marker": "o"},
}


def _plt():
    import matplotlib.pyplot as plt
    return plt


def style(method: str) -> dict:
    """``{"color", "marker"}`` of ``method``: from :data:`STYLES`, else fixed by a hash of the name, so a
    method keeps its look across panels, notebooks and runs."""
    if method in STYLES:
        return dict(STYLES[method])
    h = int(hashlib.sha256(str(method).encode()).hexdigest(), 16)
    return {"color": PALETTE[h % len(PALETTE)], "marker": MARKERS[(h // len(PALETTE)) % len(MARKERS)]}


def pareto_front(x, y) -> np.ndarray:
    """Boolean mask of the points no other point beats: lower or equal ``x`` *and* higher or equal ``y``,
    better in at least one. Exact duplicates do not dominate each other (both stay on the front)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got shapes {x.shape} and {y.shape}")
    keep = np.ones(len(x), bool)
    for i in range(len(x)):
        dominated = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        keep[i] = not dominated.any()
    return keep


def _min_span(ax, span: float) -> None:
    lo, hi = ax.get_ylim()
    if hi - lo < span:
        mid = (lo + hi) / 2
        ax.set_ylim(mid - span / 2, mid + span / 2)


def tradeoff_plot(df, x: str = "size_bytes", y: str = "accuracy", label: str = "method", logx: bool = True,
                  ax=None, title: str | None = None, annotate: str | None = None, min_span: float | None = 0.02,
                  front: bool = True):
    """Scatter ``y`` against ``x``, one fixed colour and marker per ``label`` (:func:`style`), Pareto front drawn.

    ``logx``: a log x axis when the values span more than a factor 10. ``annotate``: a column whose value is
    written next to each point (sparsity, bits). ``min_span``: the y axis covers at least this much (for
    accuracy, 0.02 = 2 points), so differences of a few tenths of a point do not fill the panel.
    """
    from matplotlib import ticker

    if x not in df or y not in df:
        raise KeyError(f"columns {x!r} and {y!r} must be in the frame; it has {list(df.columns)}")
    data = df.dropna(subset=[x, y])
    ax = ax or _plt().subplots(figsize=(6, 4))[1]
    for name, group in data.groupby(label, sort=False):
        ax.scatter(group[x], group[y], label=str(name), s=40, zorder=3, **style(str(name)))
        if annotate is not None:
            for _, r in group.iterrows():
                ax.annotate(_short(r[annotate]), (r[x], r[y]), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if front and len(data):
        on = data[pareto_front(data[x], data[y])].sort_values(x)
        ax.step(on[x], on[y], where="post", color="k", lw=1, ls="--", label="Pareto front", zorder=2)
    xs = data[x].astype(float)
    if logx and len(xs) and xs.min() > 0 and xs.max() / xs.min() > 10:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.xaxis.set_major_formatter(ticker.EngFormatter())
    if min_span:
        _min_span(ax, min_span)
    if y == "accuracy":
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(y, y))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def sparsity_axis(ax, sparsities=(0.5, 0.8, 0.9, 0.95, 0.98, 0.99)) -> None:
    """Turn an x axis that plots ``1 - sparsity`` on a log scale into one labelled in sparsity.

    Sparsities crowd near 1 (0.9, 0.95, 0.98); on log(1 − sparsity) they spread evenly. Plot
    ``1 - df["sparsity"]`` as x, then call this.
    """
    ax.set_xscale("log")
    ax.invert_xaxis()
    ticks = [1 - s for s in sparsities]
    ax.set_xticks(ticks, [f"{s:g}" for s in sparsities])
    ax.minorticks_off()
    ax.set_xlabel("sparsity (log scale of 1 − sparsity)")


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
    ax = ax or _plt().subplots(figsize=(per_class * 0.6, len(classes) * 0.6))[1]
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
