"""The students of the distillation notebook, and one call that trains any of them with any method."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..train import TrainConfig, fit
from .losses import KDConfig
from .targets import distill, regress_logits


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
    same batch order, so only the loss differs between methods. The global RNG is neither reseeded nor consumed.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method != "scratch" and teacher_logits is None:
        raise ValueError(f"method {method!r} needs teacher_logits")
    kw = {"device": device, "test_data": test_data}
    with torch.random.fork_rng():  # initial weights from config.seed; the caller's global RNG is left alone
        torch.manual_seed(config.seed)
        student = build_student(name, tuple(train_data.tensors[0].shape[1:]), num_classes)
        if method == "scratch":
            return student, fit(student, train_data, config, desc=f"{name} scratch", **kw)
        if method == "logits":
            return student, regress_logits(student, train_data, teacher_logits, config, **kw)
        return student, distill(student, train_data, teacher_logits, config, kd or KDConfig(), desc=f"{name} kd", **kw)
