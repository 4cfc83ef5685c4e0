"""The techniques chained on LeNet-300-100 (Deep Compression's model): distil → prune → share → Huffman.

Each stage is a real artifact measured the same way (bytes of its file, test accuracy, the time it took):

0. ``dense``: the shared cached baseline (``train.baseline("lenet300")``), its ``state_dict`` file;
1. ``distilled``: the same architecture trained with Hinton et al.'s loss from the ResNetSmall teacher's
   cached logits, on the baseline's recipe (skipped in the ablation, which prunes the dense model);
2. ``pruned``: Zhu & Gupta's gradual magnitude pruning to ``sparsity`` (global scope: about 92/91/74 % per
   layer, as Han et al.), retrained with the same loss; the sparse relative-index file;
3. ``shared``: k-means weight sharing at ``bits`` bits per weight, centroids fine-tuned; bit-packed codes;
4. ``huffman``: the same codes Huffman-coded (Deep Compression's file), decoded back and checked bit for bit.
"""
from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.nn.utils import parametrize

from .. import distillation as kd
from ..io import save_state_dict
from ..measure import size_bytes
from ..models import LeNet300
from ..pruning import PruneConfig, Pruner, gradual_config, save_sparse
from ..quantization import DeepCompressionConfig, load_compressed, save_compressed, share_model_weights_
from ..train import TrainConfig, evaluate, fit


@dataclass(frozen=True)
class ChainConfig(DeepCompressionConfig):
    """The chain's settings: Deep Compression's three stages (:class:`DeepCompressionConfig`: sparsity, scope,
    epochs, bits, learning rates, seed) with a distilled student in front; ``distill=False`` is the ablation
    (cross-entropy everywhere, no teacher)."""

    distill: bool = True
    temperature: float = 4.0
    alpha: float = 0.5
    student_epochs: int = 8

    def __post_init__(self):
        super().__post_init__()
        if self.sparsity == 0.0:
            raise ValueError(f"sparsity must be in (0, 1), got {self.sparsity}")
        if self.bits < 2:
            raise ValueError(f"bits must be in [2, 8] (at most 255 shared values plus the zero), got {self.bits}")
        if self.student_epochs < 1:
            raise ValueError(f"student_epochs must be >= 1, got {self.student_epochs}")
        kd.KDConfig(self.temperature, self.alpha)  # validates T and α


def _objective(cfg: ChainConfig, train_data, teacher_logits):
    """(data, loss_fn) of every training stage: KD on packed targets, or plain cross-entropy."""
    if not cfg.distill:
        return train_data, None
    if teacher_logits is None:
        raise ValueError("distill=True needs teacher_logits (the teacher's logits on the training set)")
    return kd.with_teacher_logits(train_data, teacher_logits), kd.kd_objective(kd.KDConfig(cfg.temperature, cfg.alpha))


def _fit(model, data, loss_fn, config, device, **kw):
    extra = {"loss_fn": loss_fn} if loss_fn is not None else {}
    return fit(model, data, config, device=device, **extra, **kw)


def distill_student(train_data, teacher_logits, cfg: ChainConfig, input_shape, num_classes, device="cpu"):
    """Stage 1: LeNet-300-100 trained from ``cfg.seed`` with the KD loss (the global RNG is left alone)."""
    data, loss_fn = _objective(cfg, train_data, teacher_logits)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        student = LeNet300(input_shape, num_classes)
        _fit(student, data, loss_fn, TrainConfig(epochs=cfg.student_epochs, lr=cfg.lr, seed=cfg.seed,
                                                 max_train=cfg.max_train), device, desc="distil")
    return student


def prune_(model, train_data, teacher_logits, cfg: ChainConfig, device="cpu") -> Pruner:
    """Stage 2: gradual global magnitude pruning over the first ¾ of ``prune_epochs`` of retraining."""
    data, loss_fn = _objective(cfg, train_data, teacher_logits)
    tc = TrainConfig(epochs=cfg.prune_epochs, lr=cfg.lr, seed=cfg.seed, max_train=cfg.max_train)
    n = len(train_data) if cfg.max_train is None else min(len(train_data), cfg.max_train)
    steps = cfg.prune_epochs * -(-n // tc.batch_size)
    pruner = Pruner(model, PruneConfig(cfg.sparsity, scope=cfg.scope), gradual_config(steps, 0.75, 10))
    _fit(model, data, loss_fn, tc, device, step_callback=pruner, desc="prune")
    if pruner.sparsity() < cfg.sparsity - 1e-3:
        raise RuntimeError(f"pruning reached {pruner.sparsity():.3f}, below the target {cfg.sparsity}")
    return pruner


def share_(model, train_data, teacher_logits, cfg: ChainConfig, device="cpu") -> None:
    """Stage 3: k-means sharing into ``2**bits − 1`` centroids (plus the zero), centroids fine-tuned."""
    data, loss_fn = _objective(cfg, train_data, teacher_logits)
    shared = share_model_weights_(model, (1 << cfg.bits) - 1)
    if cfg.share_epochs:
        _fit(model, data, loss_fn, TrainConfig(epochs=cfg.share_epochs, lr=cfg.share_lr, seed=cfg.seed,
                                               max_train=cfg.max_train), device, desc="share")
    for name, module in model.named_modules():
        if name in shared:
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


def identical(a, b) -> bool:
    """Two state dicts hold the same names, shapes, dtypes and values, bit for bit."""
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def run_chain(dense, splits, cfg: ChainConfig, teacher_logits=None, *, test=None, workdir=None, device="cpu"):
    """Run the chain from the ``dense`` baseline; return ``(stages, final_model, decoded_model)``.

    ``stages``: one dict per stage (``stage``, ``path``, ``bytes``, ``accuracy``, ``seconds``, ``sparsity``).
    The Huffman file is decoded into a fresh LeNet-300-100 and must equal the final model bit for bit.
    """
    test = splits.test if test is None else test
    work = Path(workdir or tempfile.mkdtemp(prefix="chain-"))
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{'kd' if cfg.distill else 'ce'}-s{cfg.seed}"
    stages = []

    def record(stage, model, path, seconds, sparsity=0.0):
        stages.append({"stage": stage, "path": str(path), "bytes": size_bytes(path).bytes, "seconds": seconds,
                       "accuracy": evaluate(model, test, device=device), "sparsity": sparsity})

    record("dense", dense, save_state_dict(dense, work / f"lenet300.{tag}.dense.pt"), 0.0)
    t = time.perf_counter()
    model = distill_student(splits.train, teacher_logits, cfg, splits.input_shape, splits.num_classes, device) \
        if cfg.distill else copy.deepcopy(dense)
    if cfg.distill:
        record("distilled", model, save_state_dict(model, work / f"lenet300.{tag}.distilled.pt"), time.perf_counter() - t)
    t = time.perf_counter()
    pruner = prune_(model, splits.train, teacher_logits, cfg, device)
    record("pruned", model, save_sparse(model, work / f"lenet300.{tag}.sparse.bin"), time.perf_counter() - t,
           pruner.sparsity())
    t = time.perf_counter()
    share_(model, splits.train, teacher_logits, cfg, device)
    seconds = time.perf_counter() - t
    record("shared", model, save_compressed(model, work / f"lenet300.{tag}.packed.bin", "packed"), seconds,
           pruner.sparsity())
    t = time.perf_counter()
    path = save_compressed(model, work / f"lenet300.{tag}.huffman.bin", "huffman")
    with torch.random.fork_rng():  # its initial weights are overwritten: do not consume the caller's RNG
        decoded = LeNet300(splits.input_shape, splits.num_classes)
    decoded.load_state_dict(load_compressed(path))
    if not identical(model.cpu().state_dict(), decoded.state_dict()):
        raise AssertionError(f"{path} does not decode to the final model bit for bit")
    record("huffman", decoded, path, time.perf_counter() - t, pruner.sparsity())
    return stages, model, decoded


def ablation(cfg: ChainConfig) -> ChainConfig:
    """The same chain without distillation (cross-entropy everywhere)."""
    return replace(cfg, distill=False)
