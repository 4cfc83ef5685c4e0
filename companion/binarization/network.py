"""The BNN of 06 packed end to end: from the first binary layer to the last, bits in and bits out.

::

    image → conv1 (fp32) → bn1 → sign, packed ──► conv2: XNOR-popcount, bn2 + sign as thresholds ──► packed
    words (B, H2, W2, ⌈C2/64⌉) ──► fc3: XNOR-popcount → integers → bn3 → hard-tanh → fc4 (fp32) → logits

Between conv2 and fc3 nothing is a float: conv2's integers go through one integer comparison per channel
(:mod:`~companion.binarization.fold`) straight into the words fc3 reads, whose weights were reordered at
packing time to the channel-packed (H, W, C) layout, so ``flatten`` costs nothing. With ``binarize_first_last``
fc3's output is thresholded too and fc4 is an XNOR layer. The float layers run the same PyTorch code as in
the trained model, so the logits are identical to its logits.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..formats.bits import n_words
from .bitcore import as_floats
from .conv import conv_output_size, geometry, run_conv, sign_conv_bits
from .fold import sign_thresholds
from .gemm import run_gemm
from .layers import BinaryConv2d, BinaryLinear
from .packed import ENGINE, BufferViews, PackedLayer, check_packable
from .packing import pack_conv_weight, pack_linear_weight, pack_linear_weight_nhwc, pack_signs_nchw


_NO_INTS, _NO_INTS_2D = np.empty((0, 0, 0, 0), np.int32), np.empty((0, 0), np.int32)


def _sign_units(layer) -> torch.Tensor:
    check_packable(layer)
    if layer.weight_mode not in ("sign", "stochastic_sign"):
        raise ValueError(f"a folded binary block needs sign(w) weights, got weight mode {layer.weight_mode!r}")
    with torch.no_grad():
        return layer.eval().unit_weight()[0].detach().cpu()


class BinaryConvBlock(BufferViews, nn.Module):
    """A binary convolution with the batch norm and ``sign`` after it folded in: float or bits in, bits out.

    Buffers: ``sign`` (kh, kw, ⌈C/64⌉, O) packed weights, ``threshold`` (O,) int64 and ``flip`` (O,) bool.
    """

    def __init__(self, conv: BinaryConv2d, bn: nn.BatchNorm2d):
        super().__init__()
        unit = _sign_units(conv)
        self.shape, self.stride, self.padding = tuple(unit.shape), tuple(conv.stride), tuple(conv.padding)
        self.register_buffer("sign", torch.from_numpy(pack_conv_weight(unit)))
        threshold, flip = sign_thresholds(bn, int(np.prod(self.shape[1:])))
        self.register_buffer("threshold", threshold)
        self.register_buffer("flip", flip)

    @property
    def weight_count(self) -> int:
        return int(np.prod(self.shape))

    def extra_repr(self) -> str:
        return f"{self.shape}, stride {self.stride}, padding {self.padding}, XNOR-popcount → thresholds → bits"

    def geometry(self, hw) -> tuple:
        """(sh, sw, ph, pw, Ho, Wo) for an ``hw`` input (cached per size)."""
        cache = self.__dict__.setdefault("_geometry", {})
        if hw not in cache:
            cache[hw] = geometry(hw, self.views()["sign"], self.stride, self.padding)
        return cache[hw]

    def pack(self, x: torch.Tensor) -> np.ndarray:
        """The signs of a float NCHW input, packed (B, H, W, ⌈C/64⌉) (timed apart in the breakdown)."""
        return pack_signs_nchw(x)

    def from_words(self, xp: np.ndarray, thresholds: bool = True) -> np.ndarray:
        """Packed input words → packed output bits (or, without ``thresholds``, the NHWC integers)."""
        geo, v = self.geometry(xp.shape[1:3]), self.views()
        if thresholds:
            bits = np.empty((xp.shape[0], geo[4], geo[5], n_words(self.shape[0])), np.uint64)
            run_conv(xp, v["sign"], self.shape[1], geo, _NO_INTS, v["threshold"], v["flip"], bits)
            return bits
        out = np.empty((xp.shape[0], geo[4], geo[5], self.shape[0]), np.int32)
        run_conv(xp, v["sign"], self.shape[1], geo, out)
        return out

    def forward(self, x):
        if isinstance(x, np.ndarray):
            return self.from_words(x)
        a, v = as_floats(x), self.views()
        return sign_conv_bits(a, v["sign"], self.geometry(a.shape[2:]), v["threshold"], v["flip"])


class BinaryLinearBlock(BufferViews, nn.Module):
    """A binary linear layer on packed words; with a batch norm, that and ``sign`` folded in (bits out).

    ``nhwc=(C, H, W)``: the layer follows ``flatten`` of a (C, H, W) map and reads the channel-packed words
    of a :class:`BinaryConvBlock` (B, H, W, ⌈C/64⌉) directly. Without ``bn`` it returns the integers as
    float32 (B, O), plus the layer's bias.
    """

    def __init__(self, linear: BinaryLinear, bn: nn.BatchNorm1d | None = None, nhwc: tuple | None = None):
        super().__init__()
        unit = _sign_units(linear)
        self.shape = tuple(unit.shape)
        wp = pack_linear_weight_nhwc(unit, *nhwc) if nhwc else pack_linear_weight(unit)
        self.register_buffer("sign", torch.from_numpy(wp))
        bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().cpu().clone(), requires_grad=False)
        self.register_parameter("bias", bias)
        folded = sign_thresholds(bn, self.shape[1]) if bn is not None else (None, None)
        self.register_buffer("threshold", folded[0])
        self.register_buffer("flip", folded[1])

    @property
    def weight_count(self) -> int:
        return int(np.prod(self.shape))

    def extra_repr(self) -> str:
        out = "thresholds → bits" if self._buffers["threshold"] is not None else "integers"
        return f"{self.shape}, XNOR-popcount on packed words → {out}"

    def integers(self, xp: np.ndarray) -> np.ndarray:
        """Packed input words → the int32 products (B, O)."""
        out = np.empty((xp.shape[0], self.shape[0]), np.int32)
        run_gemm(xp.reshape(xp.shape[0], -1), self.views()["sign"], self.shape[1], out)
        return out

    def forward(self, xp: np.ndarray):
        xp, v = xp.reshape(xp.shape[0], -1), self.views()
        if "threshold" in v:
            bits = np.empty((xp.shape[0], n_words(self.shape[0])), np.uint64)
            run_gemm(xp, v["sign"], self.shape[1], _NO_INTS_2D, v["threshold"], v["flip"], bits)
            return bits
        out = np.empty((xp.shape[0], self.shape[0]), np.float32)
        run_gemm(xp, v["sign"], self.shape[1], out)
        y, bias = torch.from_numpy(out), self._parameters["bias"]
        return y if bias is None else y + bias


class PackedBNN(nn.Module):
    """A trained BNN :class:`~companion.binarization.BinaryNet` (sign weights and activations), packed end to end.

    conv2 (+ bn2 + sign) and fc3 are :class:`BinaryConvBlock` / :class:`BinaryLinearBlock`; conv1, bn1, bn3,
    the activation and fc4 are the trained modules (packed weights where ``binarize_first_last``). Its
    ``state_dict`` holds every byte of the model; bn2 is gone, folded into conv2's thresholds.
    """

    engine = ENGINE

    def __init__(self, model: nn.Module):
        super().__init__()
        config = getattr(model, "config", None)
        if config is None or (config.weight_mode, config.activation_mode) not in (("sign", "sign"),
                                                                                    ("stochastic_sign", "sign")):
            raise ValueError("PackedBNN packs a BinaryNet with sign weights and sign activations (method 'bnn'), "
                             f"got {getattr(config, 'method', type(model).__name__)!r}; use to_packed for the others")
        model = copy.deepcopy(model).cpu().eval()
        self.config, self.arch = config, dict(model.arch)
        self.edges_binary = model.fc4.weight_mode != "float"
        self.conv1 = PackedLayer(model.conv1) if model.conv1.weight_mode != "float" else model.conv1
        self.bn1, self.act = model.bn1, model.act
        self.conv2 = BinaryConvBlock(model.conv2, model.bn2)
        c2, (h, w) = model.conv2.out_channels, self.arch["input_shape"][1:]
        k, s, p = model.conv1.kernel_size, model.conv1.stride, model.conv1.padding
        h1, w1 = conv_output_size(h, k[0], s[0], p[0]), conv_output_size(w, k[1], s[1], p[1])
        h2, w2 = self.conv2.geometry((h1, w1))[4:]
        self.fc3 = BinaryLinearBlock(model.fc3, model.bn3 if self.edges_binary else None, nhwc=(c2, h2, w2))
        self.bn3 = None if self.edges_binary else model.bn3
        self.fc4 = BinaryLinearBlock(model.fc4) if self.edges_binary else model.fc4

    def first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 and bn1 in float: the input of the first binary layer (whose sign = sign of its hard-tanh)."""
        return self.bn1(self.conv1(x if x.device.type == "cpu" else x.cpu()))

    def head(self, z):
        """From fc3's output to the logits (bn3, hard-tanh, fc4; or fc4's XNOR on fc3's bits)."""
        return self.fc4(z) if self.edges_binary else self.fc4(self.act(self.bn3(z)))

    def forward(self, x):
        return self.head(self.fc3(self.conv2(self.first_layer(x))))
