"""Looking at a quantizer: the grid of values it can represent, drawn under a histogram."""
from __future__ import annotations

import torch

from .affine import QuantConfig, qparams


def grid_values(x: torch.Tensor, cfg: QuantConfig) -> torch.Tensor:
    """The real values a per-tensor quantizer calibrated on ``x`` can represent: ``scale·(q − zp)``."""
    scale, zp = qparams(x, cfg)
    return scale * (torch.arange(cfg.qmin, cfg.qmax + 1) - zp)


def plot_grid(ax, x: torch.Tensor, cfgs: dict, bins: int = 120):
    """Histogram of ``x`` (log counts) with the grid of each ``{label: QuantConfig}`` drawn under it."""
    values = x.detach().flatten().cpu()
    ax.hist(values.numpy(), bins=bins, color="0.6", log=True)
    for i, (label, cfg) in enumerate(cfgs.items()):
        grid = grid_values(values, cfg).numpy()
        color = f"C{i}"
        ax.vlines(grid, 0, 1, transform=ax.get_xaxis_transform(), colors=color, lw=0.8, alpha=0.7,
                  label=f"{label}: {len(grid)} levels in [{grid.min():.2g}, {grid.max():.2g}]")
    ax.legend(fontsize=7)
    return ax
