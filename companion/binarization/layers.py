"""Binarized layers and the section's network: BinaryLinear, BinaryConv2d, BinaryNet, and their training."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import WEIGHTED, find_layers
from ..train import TrainConfig, fit, resolve_device
from .binarize import BinarizeConfig, binarize_weight, input_scale, ste_sign


class _Binarized:
    """Mixin: weight and input binarization of a linear or convolution layer."""

    def _setup(self, weight_mode: str, activation_mode: str, factor: float):
        self.weight_mode, self.activation_mode, self.factor = weight_mode, activation_mode, factor
        self.generator = None  # stochastic binarization samples from it (train_binary seeds one per run)

    def unit_weight(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(unit weights, scale or None) as the forward pass uses them."""
        return binarize_weight(self.weight, self.weight_mode, factor=self.factor, training=self.training,
                               generator=self.generator)

    def binarize_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.activation_mode == "real" else ste_sign(x)


class BinaryLinear(nn.Linear, _Binarized):
    """``y = s · (x_b W_bᵀ) + b``: binarized weights (and inputs) with their scales applied after.

    ``s = α_o`` (XNOR/BWN), ``α`` (ternary) or 1, times ``β = mean|x|`` for XNOR-Net inputs.
    Shapes as :class:`torch.nn.Linear`.
    """

    def __init__(self, in_features: int, out_features: int, weight_mode: str = "sign",
                 activation_mode: str = "sign", bias: bool = False, factor: float = 0.7):
        super().__init__(in_features, out_features, bias=bias)
        self._setup(weight_mode, activation_mode, factor)

    def forward(self, x):
        w, alpha = self.unit_weight()
        y = F.linear(self.binarize_input(x), w)
        if alpha is not None:
            y = y * alpha
        if self.activation_mode == "scaled_sign":
            y = y * input_scale(x)
        return y if self.bias is None else y + self.bias


class BinaryConv2d(nn.Conv2d, _Binarized):
    """``y = s ⊙ (x_b ⊛ W_b) + b``: a binarized convolution (zero padding, as nn.Conv2d).

    ``s = α_o`` (XNOR/BWN), ``α`` (ternary) or 1, times the map ``K`` for XNOR-Net inputs.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1, weight_mode: str = "sign", activation_mode: str = "sign",
                 bias: bool = False, factor: float = 0.7):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self._setup(weight_mode, activation_mode, factor)

    def forward(self, x):
        w, alpha = self.unit_weight()
        y = F.conv2d(self.binarize_input(x), w, None, self.stride, self.padding)
        if alpha is not None:
            y = y * alpha.view(1, -1, 1, 1) if alpha.numel() > 1 else y * alpha
        if self.activation_mode == "scaled_sign":
            y = y * input_scale(x, self.kernel_size, self.stride, self.padding)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


def binary_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The binarized layers of ``model`` by name (weight mode other than ``float``)."""
    return {n: m for n, m in model.named_modules()
            if isinstance(m, (BinaryLinear, BinaryConv2d)) and m.weight_mode != "float"}


@torch.no_grad()
def clip_latent_weights_(model: nn.Module, bound: float = 1.0) -> None:
    """Clip the latent real weights of every binarized layer to [-bound, bound] (BinaryConnect, BNN)."""
    for m in binary_layers(model).values():
        m.weight.clamp_(-bound, bound)


def mac_split(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    """MACs of one forward pass, split into binarized layers and full-precision ones (our own count).

    A layer's MACs are ``output elements × fan-in`` (``fan-in = in_features`` or ``C·kh·kw``).
    """
    split, binary = {"binary": 0, "full_precision": 0}, set(binary_layers(model).values())

    def hook(m, inp, out):
        split["binary" if m in binary else "full_precision"] += out.numel() * m.weight[0].numel()
    hooks = [m.register_forward_hook(hook) for m in find_layers(model, WEIGHTED).values()]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(example_input)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return split


class BinaryNet(nn.Module):
    """A small CNN in the BNN style, the same layers for every method.

    conv1 3×3 stride 2 (1→c1) · BN · act → conv2 3×3 stride 2 (c1→c2) · BN · act → flatten →
    fc3 (c2·⌈H/4⌉·⌈W/4⌉ → hidden) · BN · act → fc4 (hidden → classes). conv2 and fc3 are binarized;
    conv1 and fc4 too only with ``binarize_first_last`` (then conv1 keeps real inputs, the image).
    ``act`` is ReLU for real-activation methods, hard-tanh for BNN/XNOR-Net (whose next layer
    takes the sign). Defaults: 64 and 64 channels, 256 hidden units (multiples of 64: no padding
    bits in the packed words).
    """

    def __init__(self, config: BinarizeConfig = BinarizeConfig(), input_shape=(1, 28, 28), num_classes: int = 10,
                 channels: tuple[int, int] = (64, 64), hidden: int = 256):
        super().__init__()
        c, h, w = input_shape
        self.config, self.arch = config, {"input_shape": tuple(input_shape), "num_classes": num_classes,
                                          "channels": tuple(channels), "hidden": hidden}
        wm, am, f = config.weight_mode, config.activation_mode, config.ternary_threshold
        edge_w = wm if config.binarize_first_last else "float"
        edge_a = am if config.binarize_first_last else "real"
        self.conv1 = BinaryConv2d(c, channels[0], 3, 2, 1, edge_w, "real", factor=f)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.conv2 = BinaryConv2d(channels[0], channels[1], 3, 2, 1, wm, am, factor=f)
        self.bn2 = nn.BatchNorm2d(channels[1])
        flat = channels[1] * ((h + 3) // 4) * ((w + 3) // 4)
        self.fc3 = BinaryLinear(flat, hidden, wm, am, factor=f)
        self.bn3 = nn.BatchNorm1d(hidden)
        self.fc4 = BinaryLinear(hidden, num_classes, edge_w, edge_a, bias=True, factor=f)
        self.act = nn.Hardtanh() if config.binary_activations else nn.ReLU()

    def block1(self, x):
        return self.act(self.bn1(self.conv1(x)))

    def forward(self, x):
        x = self.block1(x)
        x = self.act(self.bn2(self.conv2(x)))
        x = self.act(self.bn3(self.fc3(torch.flatten(x, 1))))
        return self.fc4(x)


def train_binary(model: nn.Module, train_data, config: TrainConfig, *, device="auto", test_data=None,
                 desc: str = "binary") -> list[dict]:
    """:func:`companion.train.fit` plus, for BinaryConnect and BNN, clipping the latent weights to [-1, 1].

    Stochastic binarization samples from one ``torch.Generator`` per layer seeded from ``config.seed``, so a
    run is reproducible and the global RNG is left alone.
    """
    clip = getattr(model, "config", None) is not None and model.config.clips_weights
    callback = (lambda m, step: clip_latent_weights_(m)) if clip else None
    dev = resolve_device(device)
    stochastic = [m for m in binary_layers(model).values() if m.weight_mode.startswith("stochastic")]
    for i, layer in enumerate(stochastic):
        layer.generator = torch.Generator(device=dev).manual_seed(config.seed * 7919 + i)
    try:
        return fit(model, train_data, config, device=dev, step_callback=callback, test_data=test_data, desc=desc)
    finally:
        for layer in stochastic:
            layer.generator = None
