"""Unstructured pruning: criteria, masks, the gradual schedule, and the stateful pruner.

Pruning sets weights to zero and keeps them there (Han et al. 2015: train → prune → retrain).
The pieces are independent, so any criterion goes with any scope and any schedule:

- criterion (a *score* per weight, the lowest are removed): ``magnitude`` |w| (Han et al. 2015),
  ``obd`` the Optimal Brain Damage saliency ½·h_ii·w² (LeCun et al. 1990), ``random``;
- scope: ``layer`` (every layer loses the same fraction) or ``global`` (one ranking across layers);
- schedule: one-shot, or Zhu & Gupta's (2017) polynomial ramp applied every few optimizer steps.

Masks are boolean tensors (``True`` = kept) shaped like the weight. Masking alone changes
neither the bytes of a ``state_dict`` nor the speed of a dense matmul: see
:mod:`companion.sparse` for a format and kernels that do.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
from torch import nn

from .sparse import load_sparse, save_sparse  # noqa: F401  (re-exported: the storage half of pruning)

CRITERIA = ("magnitude", "obd", "random")
SCOPES = ("layer", "global")
PRUNABLE = (nn.Linear, nn.Conv2d)


def _check_sparsity(sparsity: float, name: str = "sparsity") -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {sparsity}")


# ---------------------------------------------------------------- pure tensor functions
def score_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Boolean mask (``True`` = kept) that removes the ``round(sparsity · n)`` lowest ``scores``.

    Exact: exactly ``round(sparsity · scores.numel())`` entries are ``False`` (Python's ``round``,
    the count ``torch.nn.utils.prune`` uses). Ties are broken deterministically: among equal
    scores the one with the lower flat (row-major) index is removed first.
    """
    _check_sparsity(sparsity)
    k = round(sparsity * scores.numel())
    order = torch.argsort(scores.detach().flatten(), stable=True)
    mask = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    mask[order[:k]] = False
    return mask.view_as(scores)


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Mask removing the ``round(sparsity · n)`` smallest-magnitude weights (Han et al. 2015).

    ``mask = |w| > threshold`` with the threshold chosen so that the sparsity is exact; ties are
    broken by flat index (see :func:`score_mask`). Same mask as ``prune.l1_unstructured`` when
    no two magnitudes tie.
    """
    return score_mask(weight.detach().abs(), sparsity)


def obd_saliency(weight: torch.Tensor, hessian_diag: torch.Tensor) -> torch.Tensor:
    """Optimal Brain Damage saliency ``s_i = ½ · h_ii · w_i²`` (LeCun, Denker & Solla 1990).

    The second-order Taylor estimate of the loss increase when ``w_i`` is set to zero, assuming
    a trained (zero-gradient) network and a diagonal Hessian ``h_ii``.
    """
    if hessian_diag.shape != weight.shape:
        raise ValueError(f"hessian_diag shape {tuple(hessian_diag.shape)} != weight shape {tuple(weight.shape)}")
    return 0.5 * hessian_diag * weight.detach() ** 2


def global_masks(scores: dict[str, torch.Tensor], sparsity: float) -> dict[str, torch.Tensor]:
    """One ranking across all tensors: remove the ``round(sparsity · Σn)`` lowest scores overall.

    Per-layer sparsities then differ (layers with small scores lose more). Ties broken by the
    position in the concatenation (dict order, then flat index).
    """
    flat = torch.cat([s.detach().flatten() for s in scores.values()])
    mask, out, start = score_mask(flat, sparsity), {}, 0
    for name, s in scores.items():
        out[name] = mask[start:start + s.numel()].view_as(s)
        start += s.numel()
    return out


def polynomial_sparsity(step: int, final_sparsity: float, begin_step: int, end_step: int,
                        initial_sparsity: float = 0.0, power: float = 3.0) -> float:
    """Zhu & Gupta's (2017) gradual schedule: ``s_t = s_f + (s_i − s_f)(1 − (t − t_0)/(t_1 − t_0))^power``.

    ``s_i`` before ``begin_step`` (t_0), ``s_f`` from ``end_step`` (t_1) on; the cubic ramp
    prunes fast while there are many redundant weights and slowly near the target.
    """
    _check_sparsity(final_sparsity, "final_sparsity")
    _check_sparsity(initial_sparsity, "initial_sparsity")
    if not 0 <= begin_step < end_step:
        raise ValueError(f"need 0 <= begin_step < end_step, got begin_step={begin_step}, end_step={end_step}")
    if power <= 0:
        raise ValueError(f"power must be > 0, got {power}")
    progress = min(max((step - begin_step) / (end_step - begin_step), 0.0), 1.0)
    return final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - progress) ** power


def sparsity_of(tensors) -> float:
    """Fraction of exact zeros over the given tensors (weights or masks)."""
    tensors = list(tensors.values()) if isinstance(tensors, dict) else list(tensors)
    total = sum(t.numel() for t in tensors)
    return sum(int((t == 0).sum()) for t in tensors) / max(total, 1)


def _layer_features(layer: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """What a weight multiplies: the input (Linear) or its ``unfold``-ed patches (Conv2d, groups=1)."""
    if isinstance(layer, nn.Linear):
        return a
    if layer.groups != 1 or isinstance(layer.padding, str):
        raise ValueError("gauss_newton_diagonal supports Conv2d with groups=1 and numeric padding only")
    return nn.functional.unfold(a, layer.kernel_size, layer.dilation, layer.padding, layer.stride)


def _sq_grad_sum(layer: nn.Module, feats: torch.Tensor, g: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``Σ_n weight_n · (∂ℓ_n/∂W)²`` of one layer from its features and output gradients ``g``.

    Linear: the per-sample gradient is ``g_n a_nᵀ``, so the sum is ``(weight·g²)ᵀ a²`` (no
    per-sample tensors). Conv2d: per-sample gradients ``g_n · patches_nᵀ`` are formed, squared, summed.
    """
    if isinstance(layer, nn.Linear):
        return (weight[:, None] * g ** 2).T @ feats ** 2
    per_sample = g.flatten(2) @ feats.transpose(1, 2)  # (N, out, in·kh·kw)
    return torch.einsum("n,noi->oi", weight, per_sample ** 2).view_as(layer.weight)


def gauss_newton_diagonal(model: nn.Module, x: torch.Tensor, layers=None) -> dict[str, torch.Tensor]:
    """Diagonal of the Gauss–Newton matrix of the cross-entropy, per prunable layer weight.

    ``h_ii = (1/N) Σ_n Σ_c p_nc · (∂ log p_nc / ∂w_i)²`` over the images ``x`` (N, C, H, W), with
    ``p_nc`` the model's softmax: exact on the batch, no sampling, no labels. For softmax
    cross-entropy the Gauss–Newton matrix equals the Fisher information; it is the positive
    ("Levenberg–Marquardt") approximation of the Hessian that Optimal Brain Damage uses (LeCun
    et al. 1990): the second derivative of the network itself is dropped. Cost: one backward
    pass per class, per-sample squares from layer inputs and output gradients (hooks).
    """
    named = prunable_layers(model, layers)
    inputs, outputs = {}, {}

    def keep(name):
        def hook(module, inp, out):
            inputs[name], outputs[name] = inp[0].detach(), out
        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m in named.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.enable_grad():  # Pruner.prune_ runs under no_grad
            logp = torch.log_softmax(model(x), -1)
            probs = logp.detach().exp()
            feats = {n: _layer_features(m, inputs[n]) for n, m in named.items()}
            total = {n: torch.zeros_like(m.weight, dtype=torch.float32) for n, m in named.items()}
            for c in range(logp.shape[-1]):
                grads = torch.autograd.grad(logp[:, c].sum(), [outputs[n] for n in named], retain_graph=True)
                for (n, m), g in zip(named.items(), grads):
                    total[n] += _sq_grad_sum(m, feats[n], g.detach(), probs[:, c])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {n: t / len(x) for n, t in total.items()}


# ---------------------------------------------------------------- configs
@dataclass(frozen=True)
class PruneConfig:
    """What to prune and how: target ``sparsity`` (fraction of zeros), ``criterion``, ``scope``.

    ``layers``: names of the ``nn.Linear``/``nn.Conv2d`` modules to prune (``None`` = all of them).
    ``seed`` drives the ``random`` criterion only.
    """

    sparsity: float = 0.9
    criterion: str = "magnitude"
    scope: str = "layer"
    layers: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self):
        _check_sparsity(self.sparsity)
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(self.layers))


@dataclass(frozen=True)
class GradualConfig:
    """Zhu & Gupta's schedule in optimizer steps: ramp from ``initial_sparsity`` at ``begin_step``
    to the config's sparsity at ``end_step``, updating the masks every ``frequency`` steps."""

    begin_step: int = 0
    end_step: int = 1000
    frequency: int = 10
    initial_sparsity: float = 0.0
    power: float = 3.0

    def __post_init__(self):
        if not 0 <= self.begin_step < self.end_step:
            raise ValueError(f"need 0 <= begin_step < end_step, got {self.begin_step}, {self.end_step}")
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1 step, got {self.frequency}")
        _check_sparsity(self.initial_sparsity, "initial_sparsity")
        if self.power <= 0:
            raise ValueError(f"power must be > 0, got {self.power}")


# ---------------------------------------------------------------- the stateful wrapper
def prunable_layers(model: nn.Module, layers=None) -> dict[str, nn.Module]:
    """The ``nn.Linear``/``nn.Conv2d`` modules of ``model`` by name, or those named in ``layers``."""
    found = {name: m for name, m in model.named_modules() if isinstance(m, PRUNABLE)}
    if layers is None:
        return found
    missing = [name for name in layers if name not in found]
    if missing:
        raise ValueError(f"no prunable layer {missing} in {type(model).__name__}; "
                         f"prunable layers: {', '.join(found)}")
    return {name: found[name] for name in layers}


class Pruner:
    """Holds one mask per layer weight, computes them with a criterion and keeps them applied.

    Use it as ``fit(..., step_callback=pruner)``: after every optimizer step it re-applies the
    masks (weights stay zero), and with a :class:`GradualConfig` it also raises the sparsity on
    Zhu & Gupta's schedule every ``frequency`` steps. Pruned weights stay pruned (masks only
    shrink). For ``criterion="obd"`` pass ``hessian`` (``{layer: diag}``, see
    :func:`gauss_newton_diagonal`) or ``hessian_fn(model) -> that dict``.
    """

    def __init__(self, model: nn.Module, config: PruneConfig, gradual: GradualConfig | None = None,
                 hessian: dict | None = None, hessian_fn=None):
        self.model, self.config, self.gradual = model, config, gradual
        self.layers = prunable_layers(model, config.layers)
        if config.criterion == "obd" and hessian is None and hessian_fn is None:
            raise ValueError("criterion 'obd' needs hessian={layer: diagonal} or hessian_fn(model)")
        self.hessian, self.hessian_fn = hessian, hessian_fn
        self.masks = {n: torch.ones_like(m.weight, dtype=torch.bool) for n, m in self.layers.items()}
        self._generator = torch.Generator().manual_seed(config.seed)

    def scores(self) -> dict[str, torch.Tensor]:
        """The criterion's score of every weight; already-pruned weights score ``-inf``."""
        if self.config.criterion == "obd" and self.hessian_fn is not None:
            self.hessian = self.hessian_fn(self.model)
        out = {}
        for name, m in self.layers.items():
            w = m.weight.detach()
            if self.config.criterion == "magnitude":
                s = w.abs()
            elif self.config.criterion == "obd":
                s = obd_saliency(w, self.hessian[name].to(w.device))
            else:
                s = torch.rand(w.shape, generator=self._generator).to(w.device)
            out[name] = s.masked_fill(~self.masks[name].to(w.device), float("-inf"))
        return out

    @torch.no_grad()
    def prune_(self, sparsity: float | None = None) -> dict[str, torch.Tensor]:
        """Recompute the masks at ``sparsity`` (default: the config's) and apply them; returns masks."""
        sparsity = self.config.sparsity if sparsity is None else sparsity
        scores = self.scores()
        if self.config.scope == "global":
            self.masks = global_masks(scores, sparsity)
        else:
            self.masks = {n: score_mask(s, sparsity) for n, s in scores.items()}
        self.apply_()
        return self.masks

    @torch.no_grad()
    def apply_(self) -> None:
        """Zero the pruned weights in place: ``w ← w ⊙ mask`` (masks follow the weights' device)."""
        for name, m in self.layers.items():
            if self.masks[name].device != m.weight.device:
                self.masks[name] = self.masks[name].to(m.weight.device)
            m.weight.mul_(self.masks[name])

    def __call__(self, model: nn.Module, step: int) -> None:
        """``fit``'s ``step_callback``: raise the sparsity on schedule, then re-apply the masks."""
        g = self.gradual
        if g is not None and g.begin_step <= step <= g.end_step + g.frequency - 1 \
                and (step - g.begin_step) % g.frequency == 0:
            self.prune_(self.target(step))
        self.apply_()

    def target(self, step: int) -> float:
        """The scheduled sparsity at ``step`` (the config's sparsity when there is no schedule)."""
        g = self.gradual
        if g is None:
            return self.config.sparsity
        return polynomial_sparsity(step, self.config.sparsity, g.begin_step, g.end_step,
                                   g.initial_sparsity, g.power)

    def sparsity(self) -> float:
        """The current fraction of zeros over the pruned layers' weights."""
        return sparsity_of([m.weight.detach() for m in self.layers.values()])

    def layer_sparsity(self) -> dict[str, float]:
        """The current fraction of zeros of each pruned layer's weight."""
        return {n: sparsity_of([m.weight.detach()]) for n, m in self.layers.items()}


def prune_(model: nn.Module, config: PruneConfig, **kwargs) -> Pruner:
    """One-shot pruning in place: compute the masks of ``config`` and apply them.

    Returns the :class:`Pruner`, to pass as ``fit(..., step_callback=pruner)`` while fine-tuning.
    """
    pruner = Pruner(model, config, **kwargs)
    pruner.prune_()
    return pruner


# ---------------------------------------------------------------- workflows: fine-tuning, sensitivity, lottery
def with_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> Pruner:
    """A :class:`Pruner` holding given ``masks`` (``{layer: bool}``), applied to ``model`` at once."""
    pruner = Pruner(model, PruneConfig(sparsity=0.0, layers=tuple(masks)))
    pruner.masks = {n: m.clone().to(pruner.layers[n].weight.device) for n, m in masks.items()}
    pruner.apply_()
    return pruner


SCHEDULES = ("one-shot", "iterative", "gradual")


def prune_and_finetune(model: nn.Module, config: PruneConfig, train_data, train_config, *, schedule: str = "iterative",
                       cycles: int = 3, ramp: float = 0.5, frequency: int = 10, hessian_fn=None,
                       device="cpu") -> Pruner:
    """Prune ``model`` in place to ``config.sparsity`` while retraining, all schedules on one budget.

    - ``"one-shot"``: prune once, retrain ``train_config.epochs`` with the mask fixed;
    - ``"iterative"``: Han et al.'s prune → retrain cycles, ``cycles`` of them, the k-th pruning to
      Zhu & Gupta's ``polynomial_sparsity(k, s, 0, cycles)``; each retrains ``epochs // cycles``
      epochs with a fresh learning-rate schedule;
    - ``"gradual"``: Zhu & Gupta's per-step version: masks raised every ``frequency`` optimizer
      steps on the cubic ramp over the first ``ramp`` of all steps, then retraining at the target.
    Masks are re-applied after every optimizer step. Returns the :class:`Pruner`.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not 0.0 < ramp <= 1.0:
        raise ValueError(f"ramp must be in (0, 1], got {ramp}")
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    from .train import fit  # local import: companion.train does not need pruning
    kwargs = {"hessian_fn": hessian_fn} if config.criterion == "obd" else {}
    n = len(train_data) if train_config.max_train is None else min(len(train_data), train_config.max_train)
    steps = train_config.epochs * -(-n // train_config.batch_size)
    if schedule == "iterative" and cycles > 1 and train_config.epochs >= cycles:
        cycle_config = replace(train_config, epochs=train_config.epochs // cycles)
        pruner = Pruner(model, config, **kwargs)
        for k in range(1, cycles + 1):
            pruner.prune_(polynomial_sparsity(k, config.sparsity, 0, cycles))
            fit(model, train_data, cycle_config, device=device, step_callback=pruner, desc=f"cycle {k}/{cycles}")
        return pruner
    if schedule == "gradual" and steps >= 2:
        gradual = GradualConfig(begin_step=0, end_step=max(1, int(ramp * steps)), frequency=min(frequency, steps))
        pruner = Pruner(model, config, gradual, **kwargs)
    else:
        pruner = prune_(model, config, **kwargs)
    fit(model, train_data, train_config, device=device, step_callback=pruner, desc=f"{schedule} {config.sparsity}")
    if pruner.sparsity() < config.sparsity - 1e-3:
        pruner.prune_()  # a gradual schedule cut short by too few steps: reach the target anyway
    return pruner


def layer_sensitivity(model: nn.Module, evaluate_fn, sparsities, layers=None) -> list[dict]:
    """Accuracy when one layer alone is magnitude-pruned, without retraining (Han et al. 2015, Fig. 6).

    ``evaluate_fn(model) -> accuracy``; one row ``{layer, sparsity, accuracy}`` per pair.
    """
    rows = []
    for name in prunable_layers(model, layers):
        for s in sparsities:
            pruned = copy.deepcopy(model)
            prune_(pruned, PruneConfig(sparsity=s, layers=(name,)))
            rows.append({"layer": name, "sparsity": s, "accuracy": evaluate_fn(pruned)})
    return rows


@dataclass(frozen=True)
class LotteryConfig:
    """Frankle & Carbin's iterative magnitude pruning with rewinding: ``rounds`` of train → prune
    ``rate`` of the remaining weights of each layer (``output_rate`` for the last; ``None`` = rate/2,
    as in the paper) → rewind the survivors to their initial values."""

    rounds: int = 5
    rate: float = 0.5
    output_rate: float | None = None

    def __post_init__(self):
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        for name, r in (("rate", self.rate), ("output_rate", self.output_rate)):
            if r is not None and not 0.0 < r < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {r}")


def lottery_ticket(make_model, train_fn, evaluate_fn, config: LotteryConfig, seed: int = 0) -> list[dict]:
    """Winning tickets vs random re-initialisation (Frankle & Carbin 2019), one row per round.

    ``make_model(seed)`` builds a freshly initialised model; ``train_fn(model, pruner)`` trains it
    in place with ``pruner`` as step callback; ``evaluate_fn(model) -> accuracy``. Round 0 trains
    the dense net from θ₀; round r trains θ₀ ⊙ m_r (the ticket) and, with the same mask, a new
    random initialisation (``seed + 1000 + r``). Masks come from the trained ticket of the round before.
    """
    init = copy.deepcopy(make_model(seed).state_dict())
    names = list(prunable_layers(make_model(seed)))
    rates = {n: config.rate for n in names}
    rates[names[-1]] = config.output_rate or config.rate / 2
    masks, rows = None, []
    for r in range(config.rounds + 1):
        ticket = make_model(seed)
        ticket.load_state_dict(init)
        pruner = with_masks(ticket, masks) if masks else Pruner(ticket, PruneConfig(sparsity=0.0))
        train_fn(ticket, pruner)
        row = {"round": r, "sparsity": pruner.sparsity(), "ticket_accuracy": evaluate_fn(ticket),
               "reinit_accuracy": None}
        if masks:
            reinit = make_model(seed + 1000 + r)
            train_fn(reinit, with_masks(reinit, masks))
            row["reinit_accuracy"] = evaluate_fn(reinit)
        rows.append(row)
        scores = {n: m.weight.detach().abs().masked_fill(~pruner.masks[n].to(m.weight.device), float("-inf"))
                  for n, m in pruner.layers.items()}
        masks = {n: score_mask(s, 1 - (1 - rates[n]) ** (r + 1)) for n, s in scores.items()}
    return rows
