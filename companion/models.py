"""The models every section shares: LeNet-300-100, LeNet-5 and a small residual CNN.

All take ``input_shape=(C, H, W)`` and ``num_classes``, so the same code serves 28×28 grey
(Fashion-MNIST, MNIST) and 32×32 RGB (CIFAR-10) images.
"""
from __future__ import annotations

import torch
from torch import nn


class LeNet300(nn.Module):
    """LeNet-300-100 (LeCun et al. 1998): a 784-300-100-10 MLP, 266,610 parameters on 28×28.

    The fully connected model of the pruning (Han et al. 2015) and Deep Compression papers.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10):
        super().__init__()
        c, h, w = input_shape
        self.features = nn.Flatten()
        self.fc1 = nn.Linear(c * h * w, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class LeNet5(nn.Module):
    """LeNet-5 in the Caffe variant used by Han et al.: conv 20@5×5, conv 50@5×5, fc 500, fc 10.

    431,080 parameters on 28×28 grey input, as in the pruning and Deep Compression papers.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10):
        super().__init__()
        c, h, w = input_shape
        self.conv1 = nn.Conv2d(c, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.pool = nn.MaxPool2d(2)
        flat = 50 * (((h - 4) // 2 - 4) // 2) * (((w - 4) // 2 - 4) // 2)
        self.fc1 = nn.Linear(flat, 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class BasicBlock(nn.Module):
    """He et al.'s basic residual block: two 3×3 conv-BN layers and an identity or 1×1 shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetSmall(nn.Module):
    """A small residual CNN (He et al. 2016): the strong baseline and the distillation teacher.

    Stem 3×3 conv with ``width`` channels, then three stages of ``blocks`` basic blocks with
    width, 2·width and 4·width channels (stride 2 between stages), global average pooling and a
    linear classifier. ``width=32, blocks=1``: 0.31 M parameters, about 33 M MACs on 28×28.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, width: int = 32, blocks: int = 1):
        super().__init__()
        if width < 1 or blocks < 1:
            raise ValueError(f"width and blocks must be >= 1, got width={width}, blocks={blocks}")
        c = input_shape[0]
        self.stem = nn.Sequential(nn.Conv2d(c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for i, cout in enumerate((width, 2 * width, 4 * width)):
            for j in range(blocks):
                layers.append(BasicBlock(cin, cout, stride=2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


MODELS = {"lenet300": LeNet300, "lenet5": LeNet5, "resnet_small": ResNetSmall}


def build_model(name: str, input_shape=(1, 28, 28), num_classes: int = 10, **kwargs) -> nn.Module:
    """Instantiate a model of :data:`MODELS` by name."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    if len(input_shape) != 3 or num_classes < 2:
        raise ValueError(f"input_shape must be (C, H, W) and num_classes >= 2, got {input_shape}, {num_classes}")
    return MODELS[name](tuple(input_shape), num_classes, **kwargs)
