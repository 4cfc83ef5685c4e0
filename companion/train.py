"""Training and evaluation: ``fit``, ``evaluate``, seeding, devices and the on-disk model cache."""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from .data import Splits, loader, subset
from .io import torch_save_atomic
from .models import build_model

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (with the model, the data and the device)."""

    epochs: int = 5
    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"  # learning rate: cosine decay to 0 over all steps, or constant
    seed: int = 0
    max_train: int | None = None  # use only the first examples (smoke runs); None = all
    class_weights: tuple[float, ...] | None = None  # per-class weights of the default cross-entropy; None = unweighted

    def __post_init__(self):
        if self.class_weights is not None:
            weights = tuple(float(w) for w in self.class_weights)
            if not weights or not all(np.isfinite(w) and w > 0 for w in weights):
                raise ValueError(f"class_weights must be a non-empty sequence of finite numbers > 0, got {self.class_weights!r}")
            object.__setattr__(self, "class_weights", weights)  # a tuple of floats, whatever sequence came in
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.max_train is not None and self.max_train < 1:
            raise ValueError(f"max_train must be >= 1 or None, got {self.max_train}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA). Call it explicitly; nothing seeds on import."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; otherwise the named device, checked."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:N]'") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use 'auto' or 'cpu'")
    return dev


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _as_loader(data, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    return data if isinstance(data, DataLoader) else loader(data, batch_size, shuffle, seed)


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default ``loss_fn`` of :func:`fit`: cross-entropy of ``model(x)`` against labels ``y``."""
    return nn.functional.cross_entropy(model(x), y)


def weighted_cross_entropy_loss(class_weights) -> Callable:
    """``loss_fn(model, x, y)``: cross-entropy with per-class weights w, −Σᵢ w_{yᵢ} log p_{yᵢ}(xᵢ) / Σᵢ w_{yᵢ}.

    Logits (N, C) or per pixel (N, C, H, W) against labels (N,) or (N, H, W); C must equal ``len(class_weights)``.
    (Segmentation uses it to keep a dominant background class from drowning the others, e.g. SegNet's median
    frequency balancing.)
    """
    weights = torch.as_tensor(class_weights, dtype=torch.float32)

    def loss_fn(model, x, y):
        logits = model(x)
        if logits.shape[1] != len(weights):
            raise ValueError(f"{len(weights)} class weights for a model with {logits.shape[1]} outputs per example")
        return nn.functional.cross_entropy(logits, y, weight=weights.to(logits.device, logits.dtype))
    return loss_fn


def fit(model: nn.Module, train_data, config: TrainConfig, *, device="auto",
        loss_fn: Callable | None = None, step_callback: Callable | None = None,
        test_data=None, optimizer: torch.optim.Optimizer | None = None,
        desc: str = "train") -> list[dict]:
    """Train ``model`` in place and return one history row per epoch.

    ``loss_fn(model, x, y) -> scalar`` (default: cross-entropy, weighted by ``config.class_weights`` when set;
    distillation passes its own, and then ``config.class_weights`` must be None);
    ``step_callback(model, step)`` runs after every optimizer step (pruning re-applies masks there).
    ``test_data`` adds the test accuracy to each row. A tqdm bar shows progress
    (silence it with ``TQDM_DISABLE=1``).
    """
    if loss_fn is None:
        loss_fn = cross_entropy_loss if config.class_weights is None else weighted_cross_entropy_loss(config.class_weights)
    elif config.class_weights is not None:
        raise ValueError("config.class_weights weight the default cross-entropy only; with your own loss_fn, "
                         "weight the classes inside it and leave class_weights=None")
    dev = resolve_device(device)
    model.to(dev)
    if isinstance(train_data, TensorDataset) and config.max_train:
        train_data = subset(train_data, config.max_train)
    batches = _as_loader(train_data, config.batch_size, True, config.seed)
    opt = optimizer or make_optimizer(model.parameters(), config)
    total_steps = max(config.epochs * len(batches), 1)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, total_steps)
             if config.schedule == "cosine" else None)
    history, step = [], 0
    bar = tqdm(total=config.epochs * len(batches), desc=desc, leave=False)
    for epoch in range(config.epochs):
        model.train()
        total, count = 0.0, 0
        for x, y in batches:
            x, y = x.to(dev), y.to(dev)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model, x, y)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            step += 1
            if step_callback is not None:
                step_callback(model, step)
            total += loss.item() * len(y)
            count += len(y)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{total / count:.3f}")
        row = {"epoch": epoch + 1, "loss": total / max(count, 1)}
        if test_data is not None:
            row["test_accuracy"] = evaluate(model, test_data, device=dev)
        history.append(row)
    bar.close()
    return history


@torch.no_grad()
def predict(model: nn.Module, data, device="auto", batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, classes) and labels (N,) of ``model`` on ``data``, on the CPU."""
    dev = resolve_device(device)
    model.to(dev).eval()
    logits, labels = [], []
    for x, y in _as_loader(data, batch_size, False, 0):
        logits.append(model(x.to(dev)).float().cpu())
        labels.append(y)
    return torch.cat(logits), torch.cat(labels)


def evaluate(model: nn.Module, data, device="auto", batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``data``, as a fraction in [0, 1]."""
    logits, labels = predict(model, data, device, batch_size)
    return (logits.argmax(1) == labels).float().mean().item()


# ---------------------------------------------------------------- cache of trained baselines
def cache_dir() -> Path:
    """``$COMPANION_CACHE``, else ``.cache/`` at the repository root, else ``~/.cache/companion``."""
    if os.environ.get("COMPANION_CACHE"):
        return Path(os.environ["COMPANION_CACHE"])
    root = Path(__file__).resolve().parent.parent
    return root / ".cache" if (root / "pyproject.toml").exists() else Path.home() / ".cache" / "companion"


def model_source_hash(model: nn.Module) -> str:
    """A hash of the source code of every class ``model`` is built from (the model and its sub-modules'
    classes defined in ``companion``), so editing a model's code invalidates its cached checkpoints."""
    classes = sorted({type(m) for m in model.modules() if type(m).__module__.startswith("companion")},
                     key=lambda c: f"{c.__module__}.{c.__qualname__}")
    digest = hashlib.sha256()
    for cls in classes:
        try:
            digest.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):  # no source at hand (frozen install): the qualified name at least
            digest.update(f"{cls.__module__}.{cls.__qualname__}".encode())
    return digest.hexdigest()[:16]


# TrainConfig fields added after checkpoints were cached: left out of the key while at their default (None), so
# every checkpoint trained without them keeps its key.
_LATER_FIELDS = ("class_weights",)


def _config_spec(config: TrainConfig) -> dict:
    spec = asdict(config)
    return {k: v for k, v in spec.items() if not (k in _LATER_FIELDS and v is None)}


def cache_key(model_name: str, model_kwargs: dict, dataset: str, config: TrainConfig, device: torch.device,
              data_fingerprint: str | None = None, source: str | None = None) -> str:
    """A hash of everything that decides the trained weights: the model (name, arguments, source code), the
    data (name and fingerprint of the training tensors), the training config, the device type and torch."""
    spec = {"model": model_name, "model_kwargs": model_kwargs, "dataset": dataset, "config": _config_spec(config),
            "device": device.type, "torch": torch.__version__.split("+")[0], "data": data_fingerprint,
            "source": source}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def train_cached(model_name: str, splits: Splits, config: TrainConfig, *, device="auto",
                 model_kwargs: dict | None = None, directory: Path | None = None,
                 build: Callable | None = None) -> tuple[nn.Module, dict]:
    """Train ``model_name`` on ``splits`` with ``config``, or load it if trained before.

    ``build(input_shape, num_classes, **model_kwargs)`` makes the model when it is not one of
    :data:`companion.models.MODELS` (a section's own network); ``model_name`` then only names it.
    Initial weights come from ``config.seed`` inside :func:`torch.random.fork_rng`, so the caller's
    global RNG is neither reseeded nor consumed. Checkpoints live in :func:`cache_dir` under a key of the
    model (its code included), the data's fingerprint and the full training config; they load with
    ``torch.load(..., weights_only=True)``. Returns the model (in eval mode, on ``device``) and
    ``{"key", "path", "cached", "history"}``.
    """
    dev = resolve_device(device)
    model_kwargs = dict(model_kwargs or {})
    devices = [dev.index if dev.index is not None else 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the caller's RNG state is left as it was
        torch.manual_seed(config.seed)
        model = build(splits.input_shape, splits.num_classes, **model_kwargs) if build else \
            build_model(model_name, splits.input_shape, splits.num_classes, **model_kwargs)
        key = cache_key(model_name, model_kwargs, splits.name, config, dev, splits.fingerprint, model_source_hash(model))
        path = Path(directory or cache_dir()) / f"{model_name}-{splits.name}-{key}.pt"
        if path.exists():
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(ckpt["state_dict"])
            history, cached = ckpt["history"], True
        else:
            history = fit(model, splits.train, config, device=dev, desc=model_name)
            torch_save_atomic({"state_dict": model.state_dict(), "history": history}, path)
            cached = False
    return model.to(dev).eval(), {"key": key, "path": str(path), "cached": cached, "history": history}


# ---------------------------------------------------------------- the shared baselines
BASELINE_EPOCHS = {"lenet300": 8, "lenet5": 6, "resnet_small": 4}
SMOKE_TRAIN = 512  # training examples in a smoke run
# Seed-to-seed standard deviation of test accuracy (a fraction) of each baseline recipe on fashion-mnist-mini,
# measured over seeds 0, 1, 2 (torch 2.14.1, CPU, 1 thread). lenet300: 84.30 / 84.25 / 84.00 %; lenet5: 84.20 / 84.75 /
# 84.45 %; resnet_small: 86.10 / 85.40 / 84.65 %. 00_baseline re-measures it and fails if the recipe got noisier.
SEED_SPREAD = {"lenet300": 0.0016, "lenet5": 0.0028, "resnet_small": 0.0073}


def noise_tolerance(model_name: str, k: float = 2.0) -> float:
    """How far apart two accuracies of independently trained ``model_name``-sized models may be by chance.

    ``k · √2 · σ`` with σ = :data:`SEED_SPREAD` (the difference of two independent runs has standard deviation
    √2·σ); ``k = 2`` is a two-sigma band. Use it instead of zero-tolerance comparisons of trained models.
    """
    if model_name not in SEED_SPREAD:
        raise ValueError(f"no seed spread measured for {model_name!r}; known: {', '.join(SEED_SPREAD)}")
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    return k * 2 ** 0.5 * SEED_SPREAD[model_name]


def baseline_config(model_name: str, smoke: bool = False, seed: int = 0, epochs: int | None = None) -> TrainConfig:
    """The training recipe every notebook uses for the dense baselines (so the cache is shared).

    Adam, lr 1e-3 with cosine decay, batch 128, :data:`BASELINE_EPOCHS` epochs (``epochs`` overrides);
    ``smoke``: one epoch on the first :data:`SMOKE_TRAIN` images.
    """
    if model_name not in BASELINE_EPOCHS:
        raise ValueError(f"no baseline recipe for {model_name!r}; known: {', '.join(BASELINE_EPOCHS)}")
    if smoke:
        return TrainConfig(epochs=1, seed=seed, max_train=SMOKE_TRAIN)
    return TrainConfig(epochs=BASELINE_EPOCHS[model_name] if epochs is None else epochs, seed=seed)


def baseline(model_name: str, splits: Splits, *, smoke: bool = False, seed: int = 0, device="auto",
             epochs: int | None = None) -> tuple[nn.Module, dict]:
    """The trained dense baseline ``model_name`` (from the cache when it was trained before)."""
    return train_cached(model_name, splits, baseline_config(model_name, smoke, seed, epochs), device=device)
