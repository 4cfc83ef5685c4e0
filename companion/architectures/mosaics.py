"""A synthetic segmentation task from Fashion-MNIST: 64×64 canvases holding 2–3 garments that never overlap.

No small semantic-segmentation set ships offline (no PyPI or Debian package has one), so, after M2NIST, we
synthesise one, deterministically from a seed. Each canvas is cut into a grid of cells at least one item (28 px)
wide; ``k`` distinct cells get one garment each at a random offset inside the cell, so the 28×28 boxes never
overlap. A pixel is labelled ``class + 1`` where its garment's own pixel (in [0, 1]) exceeds ``threshold``, else 0
(background). Train canvases use only training-split garments, test canvases only test-split ones.

It is **synthetic and much easier than road scenes** (black background, rigid, centred shapes): only the
comparison between two networks trained the same way on it means anything.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..data import STATS, Splits

ITEM = 28
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class MosaicConfig:
    """Canvas side (px), how many garments per canvas (``min_items``..``max_items``), the label threshold on
    [0, 1] pixels, canvases per split, and the seed of the generator."""

    canvas: int = 64
    min_items: int = 2
    max_items: int = 3
    threshold: float = 0.15
    n_train: int = 1500
    n_test: int = 500
    seed: int = 0

    def __post_init__(self):
        if not 1 <= self.min_items <= self.max_items:
            raise ValueError(f"need 1 <= min_items <= max_items, got {self.min_items}, {self.max_items}")
        cells = cells_per_side(self.canvas)
        if cells * cells < self.max_items:
            raise ValueError(f"a {self.canvas}×{self.canvas} canvas holds at most {cells * cells} non-overlapping "
                             f"{ITEM}×{ITEM} items, too small for max_items={self.max_items} "
                             f"(needs a side of at least {ITEM * int(np.ceil(np.sqrt(self.max_items)))} px)")
        if not 0 <= self.threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError(f"n_train and n_test must be >= 1, got {self.n_train}, {self.n_test}")


def cells_per_side(canvas: int) -> int:
    """How many item-wide cells fit along one side of the canvas."""
    if not isinstance(canvas, int) or canvas < ITEM:
        raise ValueError(f"canvas must be an integer of at least {ITEM} px (one item), got {canvas!r}")
    return canvas // ITEM


def to_unit(images: torch.Tensor, dataset: str = "fashion-mnist") -> np.ndarray:
    """Normalised (N, 1, 28, 28) images back to [0, 1] on the 1/255 grid they came from: (N, 28, 28) float32."""
    (mean,), (std,) = STATS[dataset]
    x = images[:, 0].numpy() * std + mean
    return (np.clip(np.round(x * 255), 0, 255) / 255).astype(np.float32)


def make_mosaics(images: np.ndarray, labels: np.ndarray, n: int, config: MosaicConfig, seed: int) -> dict:
    """``n`` canvases from ``images`` (N, 28, 28) in [0, 1] with class ``labels`` (N,).

    Returns ``{"x": (n, canvas, canvas) float32, "y": (n, canvas, canvas) int64 (0 = background, c + 1 = class c),
    "sources": (n, max_items) indices into images (-1: none), "boxes": (n, max_items, 2) top-left corners}``.
    """
    rng = np.random.default_rng(seed)
    c, cells = config.canvas, cells_per_side(config.canvas)
    cell = c // cells
    x = np.zeros((n, c, c), np.float32)
    y = np.zeros((n, c, c), np.int64)
    sources = np.full((n, config.max_items), -1, np.int64)
    boxes = np.full((n, config.max_items, 2), -1, np.int64)
    for i in range(n):
        k = int(rng.integers(config.min_items, config.max_items + 1))
        for slot, where in enumerate(rng.choice(cells * cells, size=k, replace=False)):
            src = int(rng.integers(len(images)))
            top, left = (where // cells) * cell + rng.integers(cell - ITEM + 1), (where % cells) * cell + rng.integers(cell - ITEM + 1)
            item = images[src]
            x[i, top:top + ITEM, left:left + ITEM] = item
            y[i, top:top + ITEM, left:left + ITEM] = np.where(item > config.threshold, int(labels[src]) + 1, 0)
            sources[i, slot], boxes[i, slot] = src, (top, left)
    return {"x": x, "y": y, "sources": sources, "boxes": boxes}


def mosaic_splits(splits: Splits, config: MosaicConfig = MosaicConfig()) -> tuple[Splits, dict]:
    """Train mosaics from ``splits.train`` only and test mosaics from ``splits.test`` only, as a :class:`Splits`
    (images normalised like Fashion-MNIST; targets per pixel), and the raw generator output of both."""
    if splits.input_shape != (1, ITEM, ITEM):
        raise ValueError(f"mosaics need 1×{ITEM}×{ITEM} images, got {splits.input_shape}")
    (mean,), (std,) = STATS["fashion-mnist"]
    raw, data = {}, {}
    for part, n, offset in (("train", config.n_train, 0), ("test", config.n_test, 1)):
        ds = getattr(splits, part)
        raw[part] = make_mosaics(to_unit(ds.tensors[0]), ds.tensors[1].numpy(), n, config, config.seed * 2 + offset)
        data[part] = TensorDataset((torch.from_numpy(raw[part]["x"])[:, None] - mean) / std, torch.from_numpy(raw[part]["y"]))
    name = f"{splits.name}-mosaics-v{GENERATOR_VERSION}-c{config.canvas}-s{config.seed}"
    return Splits(name, data["train"], data["test"], ("background",) + tuple(splits.classes)), raw
