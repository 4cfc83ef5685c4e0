"""Knowledge distillation: a small *student* learns from a large *teacher*.

Three methods, each a loss on tensors plus a thin wrapper around :func:`companion.train.fit`:

- response-based distillation (Hinton, Vinyals & Dean 2015): :func:`kd_loss`;
- logit regression (Ba & Caruana 2014): :func:`logit_regression_loss`;
- hints (FitNets, Romero et al. 2015): :func:`hint_loss` through a :func:`hint_regressor`, then KD.

The teacher's logits on the (fixed, un-augmented) training set are computed once and travel with
the labels as the training target (:func:`with_teacher_logits`), so a distillation epoch costs only
the student's forward and backward passes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from .train import TrainConfig, cache_dir, fit, predict, resolve_device, seed_everything


# ---------------------------------------------------------------- configs
def _check_kd(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


@dataclass(frozen=True)
class KDConfig:
    """Response-based distillation: softmax ``temperature`` T > 0 and soft-loss weight ``alpha`` in [0, 1].

    ``alpha = 1`` trains on the teacher's soft targets only, ``alpha = 0`` on the hard labels only.
    """

    temperature: float = 4.0
    alpha: float = 0.9

    def __post_init__(self):
        _check_kd(self.temperature, self.alpha)


@dataclass(frozen=True)
class HintConfig:
    """FitNets stage 1: ``epochs`` of hint training (student up to its guided layer + regressor) at ``lr``.

    ``max_train`` limits stage 1 to the first training images (the teacher runs on every batch).
    """

    epochs: int = 1
    lr: float = 1e-3
    max_train: int | None = None

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"hint epochs must be >= 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"hint lr must be > 0, got {self.lr}")
        if self.max_train is not None and self.max_train < 1:
            raise ValueError(f"hint max_train must be >= 1 or None, got {self.max_train}")


# ---------------------------------------------------------------- pure tensor functions
def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    if student_logits.shape[-1] != teacher_logits.shape[-1]:
        raise ValueError("teacher and student must have the same number of classes: "
                         f"student {student_logits.shape[-1]}, teacher {teacher_logits.shape[-1]}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student and teacher logits must have the same shape, got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")


def soften(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softened class probabilities ``p_i = exp(z_i / T) / Σ_j exp(z_j / T)``; shape (N, C) → (N, C).

    T = 1 is the ordinary softmax; a larger T flattens it and shows the small probabilities of the
    wrong classes, the "dark knowledge" (Hinton et al. 2015).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(logits / temperature, dim=-1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al.'s distillation loss, a scalar averaged over the batch.

    ``L = α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(softmax(s), y)``

    with student logits s and teacher logits t of shape (N, C) and labels y of shape (N,). The T²
    keeps the soft term's gradients at the same scale whatever T (they shrink as 1/T²).
    Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network", §2.
    """
    _check_kd(temperature, alpha)
    _check_logits(student_logits, teacher_logits)
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    soft = F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean") * temperature ** 2
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1.0 - alpha) * hard


def logit_regression_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Ba & Caruana's mimic loss: ``½ · mean over examples of ‖s − t‖²`` on the logits (N, C).

    The student regresses the teacher's logits directly (no softmax, no labels).
    Ba & Caruana 2014, "Do deep nets really need to be deep?", §2.2.
    """
    _check_logits(student_logits, teacher_logits)
    return 0.5 * (student_logits - teacher_logits).pow(2).sum(-1).mean()


def hint_loss(regressed: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """FitNets' hint loss ``½ · mean over examples of ‖u_h − r(v_g)‖²`` on feature maps (N, C, H, W).

    ``regressed`` is the regressor's output r(v_g) on the student's guided layer, ``teacher_features``
    the teacher's hint layer u_h. Romero et al. 2015, "FitNets: hints for thin deep nets", eq. (3).
    """
    if regressed.shape != teacher_features.shape:
        raise ValueError(f"regressed student features {tuple(regressed.shape)} must match the teacher's "
                         f"hint {tuple(teacher_features.shape)}; build the regressor with hint_regressor()")
    return 0.5 * (regressed - teacher_features).pow(2).flatten(1).sum(1).mean()


def top1_agreement(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Fraction of examples on which two models' top-1 classes agree; logits (N, C) each."""
    _check_logits(logits_a, logits_b)
    return (logits_a.argmax(-1) == logits_b.argmax(-1)).float().mean().item()


def hint_regressor(student_shape, teacher_shape) -> nn.Conv2d:
    """A conv that maps the student's guided features (C_s, H_s, W_s) to the teacher's hint (C_t, H_t, W_t).

    1×1 when the spatial sizes agree; otherwise a k×k conv with k = H_s − H_t + 1, no padding
    (FitNets' convolutional regressor). The student map must not be smaller than the teacher's.
    """
    (cs, hs, ws), (ct, ht, wt) = tuple(student_shape)[-3:], tuple(teacher_shape)[-3:]
    if hs < ht or ws < wt or hs - ht != ws - wt:
        raise ValueError(f"cannot regress student features {hs}×{ws} onto teacher features {ht}×{wt}: "
                         "the student map must be at least as large, by the same amount in H and W")
    return nn.Conv2d(cs, ct, kernel_size=hs - ht + 1, bias=False)


# ---------------------------------------------------------------- teacher logits as targets
def pack_targets(labels: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """One target tensor (N, 1 + C): the label (as a float, exact below 2²⁴) then the teacher's logits."""
    if labels.shape[0] != teacher_logits.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels but {teacher_logits.shape[0]} rows of teacher logits")
    return torch.cat([labels[:, None].to(teacher_logits.dtype), teacher_logits], dim=1)


def unpack_targets(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack_targets`: labels (N,) int64 and teacher logits (N, C)."""
    return targets[:, 0].long(), targets[:, 1:]


def with_teacher_logits(data: TensorDataset, teacher_logits: torch.Tensor) -> TensorDataset:
    """The dataset ``(x, pack_targets(y, teacher_logits))``: what :func:`fit` feeds a distillation loss."""
    images, labels = data.tensors
    return TensorDataset(images, pack_targets(labels, teacher_logits.detach().float().cpu()))


def precompute_logits(teacher: nn.Module, data: TensorDataset, device="auto") -> torch.Tensor:
    """The teacher's logits (N, C) on ``data`` in eval mode, on the CPU: computed once, reused every epoch."""
    return predict(teacher, data, device=device)[0]


def cached_logits(teacher: nn.Module, data: TensorDataset, key: str, device="auto") -> torch.Tensor:
    """:func:`precompute_logits`, stored in the model cache under the teacher's cache ``key`` and ``len(data)``.

    ``key`` must identify the teacher's weights and the data (e.g. ``f"{info['key']}-{splits.name}"``
    from :func:`companion.train.baseline`); ``data`` must be the first ``len(data)`` images of that set.
    """
    path = cache_dir() / f"logits-{key}-{len(data)}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    logits = precompute_logits(teacher, data, device)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(logits, tmp)
    os.replace(tmp, path)
    return logits


def kd_objective(config: KDConfig) -> Callable:
    """``loss_fn(student, x, packed_targets)`` for :func:`fit`: :func:`kd_loss` with ``config``."""
    def loss_fn(model, x, y):
        labels, teacher = unpack_targets(y)
        return kd_loss(model(x), teacher, labels, config.temperature, config.alpha)
    return loss_fn


def logit_regression_objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn`` for :func:`fit`: :func:`logit_regression_loss` on packed targets (labels unused)."""
    return logit_regression_loss(model(x), unpack_targets(y)[1])


# ---------------------------------------------------------------- training wrappers
def distill(student: nn.Module, train_data: TensorDataset, teacher_logits: torch.Tensor,
            config: TrainConfig, kd: KDConfig, *, device="auto", test_data=None,
            desc: str = "distill") -> list[dict]:
    """Train ``student`` in place with :func:`kd_loss` against precomputed ``teacher_logits``."""
    return fit(student, with_teacher_logits(train_data, teacher_logits), config, device=device,
               loss_fn=kd_objective(kd), test_data=test_data, desc=desc)


def regress_logits(student: nn.Module, train_data: TensorDataset, teacher_logits: torch.Tensor,
                   config: TrainConfig, *, device="auto", test_data=None) -> list[dict]:
    """Train ``student`` in place to regress ``teacher_logits`` (Ba & Caruana 2014)."""
    return fit(student, with_teacher_logits(train_data, teacher_logits), config, device=device,
               loss_fn=logit_regression_objective, test_data=test_data, desc="logit regression")


def intermediate(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of submodule ``layer`` when ``model(x)`` runs (a forward hook, removed afterwards)."""
    captured = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        model(x)
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"{type(layer).__name__} did not run in the forward pass of {type(model).__name__}")
    return captured[0]


class HintNet(nn.Module):
    """FitNets stage 1 as one module: the student up to its guided layer, then the regressor.

    ``forward(x) = regressor(guided(x))``, shape of the teacher's hint layer. It holds the student,
    so training it trains the student's lower layers in place.
    """

    def __init__(self, student: nn.Module, guided: nn.Module, regressor: nn.Module):
        super().__init__()
        self.student, self.regressor = student, regressor
        self._guided = [guided]  # a list, so it is not registered twice

    def forward(self, x):
        return self.regressor(intermediate(self.student, self._guided[0], x))


def train_hints(student: nn.Module, guided: nn.Module, teacher: nn.Module, hint: nn.Module,
                train_data: TensorDataset, config: HintConfig, *, seed: int = 0, batch_size: int = 128,
                device="auto") -> tuple[HintNet, list[dict]]:
    """FitNets stage 1: train ``student`` up to ``guided`` (+ a regressor) to predict the teacher's ``hint``.

    The teacher runs in eval mode without gradients; its hint features come from a forward hook.
    Returns the :class:`HintNet` (its ``regressor`` included) and the history.
    """
    dev = resolve_device(device)
    teacher.to(dev).eval()
    x0 = train_data.tensors[0][:2].to(dev)
    with torch.no_grad():
        t_shape, s_shape = intermediate(teacher, hint, x0).shape, intermediate(student.to(dev), guided, x0).shape
    net = HintNet(student, guided, hint_regressor(s_shape, t_shape))

    def loss_fn(model, x, y):
        with torch.no_grad():
            target = intermediate(teacher, hint, x)
        return hint_loss(model(x), target)

    cfg = TrainConfig(epochs=config.epochs, lr=config.lr, batch_size=batch_size, seed=seed,
                      max_train=config.max_train)
    history = fit(net, train_data, cfg, device=dev, loss_fn=loss_fn, desc="hints")
    return net, history


# ---------------------------------------------------------------- students
class ThinCNN(nn.Module):
    """A LeNet-like student: conv 5×5 (c1) → pool → conv 5×5 (c2) → pool → linear.

    ``channels=(16, 32)``: 18,378 parameters and about 1.05 M MACs on 28×28 grey input;
    ``channels=(4, 8)``: 2,202 parameters and about 0.26 M MACs.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, channels=(16, 32)):
        super().__init__()
        c, h, w = input_shape
        c1, c2 = channels
        self.conv1, self.conv2 = nn.Conv2d(c, c1, 5), nn.Conv2d(c1, c2, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(c2 * (((h - 4) // 2 - 4) // 2) * (((w - 4) // 2 - 4) // 2), num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv2(x))), 1))


class MLP(nn.Module):
    """A fully connected student like Hinton et al.'s MNIST nets: flatten → hidden ReLU layers → linear.

    ``hidden=(256, 256)`` (Hinton et al.'s 2×800 student, thinner): 269,322 parameters and as many
    MACs on 28×28 grey input.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, hidden=(256, 256)):
        super().__init__()
        sizes, layers = [int(torch.tensor(input_shape).prod()), *hidden], [nn.Flatten()]
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], num_classes))

    def forward(self, x):
        return self.net(x)


def _conv_relu(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    if batch_norm:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]


class ThinDeepCNN(nn.Module):
    """A FitNet-style student, thinner and deeper than the teacher.

    A 3×3 conv stem and a 2×2 max-pool (28 → 14 pixels), then per entry of ``widths`` a stage of
    ``depth`` 3×3 conv-BN-ReLU layers (2×2 max-pool between stages), global average pooling, linear.
    ``widths=(8, 16), depth=4``: 9 conv layers, 10,818 parameters, 0.9 M MACs on 28×28 grey input.
    ``guided`` is the output of the middle stage (FitNets' guided layer): for two stages, the first
    (8 × 14 × 14), the 5th of 9 conv layers. ``batch_norm=False`` gives the plain stack FitNets trained.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, widths=(8, 16), depth: int = 4,
                 batch_norm: bool = True):
        super().__init__()
        self.stem = nn.Sequential(*_conv_relu(input_shape[0], widths[0], batch_norm), nn.MaxPool2d(2))
        cin, stages = widths[0], []
        for i, width in enumerate(widths):
            layers = [nn.MaxPool2d(2)] if i else []
            for _ in range(depth):
                layers += _conv_relu(cin, width, batch_norm)
                cin = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    @property
    def guided(self) -> nn.Module:
        return self.stages[(len(self.stages) - 1) // 2]

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


STUDENTS = {
    "thin_cnn": (ThinCNN, {"channels": (16, 32)}),
    "tiny_cnn": (ThinCNN, {"channels": (4, 8)}),
    "mlp": (MLP, {"hidden": (256, 256)}),
    "fitnet": (ThinDeepCNN, {"widths": (8, 16), "depth": 4}),
}


def build_student(name: str, input_shape=(1, 28, 28), num_classes: int = 10) -> nn.Module:
    """A student of :data:`STUDENTS` by name (initialised from the current torch seed)."""
    if name not in STUDENTS:
        raise ValueError(f"unknown student {name!r}; valid names: {', '.join(STUDENTS)}")
    cls, kwargs = STUDENTS[name]
    return cls(tuple(input_shape), num_classes, **kwargs)


METHODS = ("scratch", "kd", "logits")


def train_student(name: str, train_data: TensorDataset, config: TrainConfig, *, method: str = "scratch",
                  teacher_logits: torch.Tensor | None = None, kd: KDConfig | None = None, num_classes: int = 10,
                  device="auto", test_data=None) -> tuple[nn.Module, list[dict]]:
    """Build student ``name`` from seed ``config.seed`` and train it: the control and the distilled run alike.

    ``method``: ``"scratch"`` (cross-entropy on the labels), ``"kd"`` (:func:`kd_loss` with ``kd``) or
    ``"logits"`` (:func:`logit_regression_loss`). The same seed gives the same initial weights and the
    same batch order, so only the loss differs between methods.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method != "scratch" and teacher_logits is None:
        raise ValueError(f"method {method!r} needs teacher_logits")
    seed_everything(config.seed)
    student = build_student(name, tuple(train_data.tensors[0].shape[1:]), num_classes)
    kw = {"device": device, "test_data": test_data}
    if method == "scratch":
        return student, fit(student, train_data, config, desc=f"{name} scratch", **kw)
    if method == "logits":
        return student, regress_logits(student, train_data, teacher_logits, config, **kw)
    return student, distill(student, train_data, teacher_logits, config, kd or KDConfig(), desc=f"{name} kd", **kw)
