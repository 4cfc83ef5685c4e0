"""The BNN of 06 packed end to end: from the first binary layer to the last, bits in and bits out.

::

    image → conv1 (fp32, PyTorch) ─► [ bn1 + sign → packed words ─► conv2: XNOR-popcount, bn2 + sign as
    thresholds ─► packed words (B, H2, W2, ⌈C2/64⌉) ─► fc3: XNOR-popcount → integers → bn3 → hard-tanh ]
    ─► fc4 (fp32, PyTorch) → logits

Between conv2 and fc3 nothing is a float: conv2's integers go through one integer comparison per channel
(:mod:`~companion.binarization.fold`) straight into the words fc3 reads, whose weights were reordered at
packing time to the channel-packed (H, W, C) layout, so ``flatten`` costs nothing. Everything in brackets is
**one compiled call** (:mod:`~companion.binarization.fused`), bn1 and bn3 computed with PyTorch's own
arithmetic; conv1 and fc4 are the trained layers' own PyTorch calls, so the logits are identical to the float
model's. With ``binarize_first_last`` fc3's output is thresholded too, fc4 is an XNOR layer, and the layers run
one module call each (the module path, exact as well).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..formats.bits import n_words
from .bitcore import as_floats, kernel_threads
from .conv import conv_output_size, geometry, run_conv, sign_conv_bits
from .fold import sign_thresholds
from .fused import bn_arithmetic, run_core
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
        self.conv1_hw = (h1, w1)  # conv1's output size, the middle's input
        self.register_load_state_dict_post_hook(lambda module, keys: module.drop_fused())

    def drop_fused(self) -> None:
        """Forget the compiled middle's operands (derived from the batch norms, so stale after a load)."""
        self.__dict__.pop("_fused", None)

    @property
    def fused(self) -> bool:
        """True where the binary middle runs as one compiled call (:mod:`~companion.binarization.fused`): fp32
        edges, and batch norms whose PyTorch arithmetic :func:`~companion.binarization.fused.bn_arithmetic`
        reproduces bit for bit. Otherwise (``binarize_first_last``, or an unknown arithmetic) the module path
        runs, exact as well."""
        return not self.edges_binary and self.fused_operands(self.conv1_hw)[0] is not None

    def _apply(self, fn, *args, **kwargs):
        self.drop_fused()
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_fused", None)
        return state

    def fused_operands(self, hw) -> tuple:
        """(operands of the compiled middle, XOR-popcounts per image) for a conv1 output of size ``hw``; the
        operands are None where the batch norms' arithmetic is not reproduced. Cached; dropped on load/.to()."""
        cache = self.__dict__.setdefault("_fused", {})
        if hw not in cache:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                probe1 = torch.randn(4, self.bn1.num_features, *hw) * 3  # as bn1 sees conv1's outputs
                n3 = self.fc3.shape[1]
                probe3 = torch.randint(-n3, n3 + 1, (64, self.fc3.shape[0])).float()  # fc3's integers
            bn1, bn3 = bn_arithmetic(self.bn1, probe1), bn_arithmetic(self.bn3, probe3)
            c2, f3, geo = self.conv2.views(), self.fc3.views(), self.conv2.geometry(hw)
            words = geo[4] * geo[5] * int(np.prod(c2["sign"].shape)) + f3["sign"].size
            operands = None if bn1 is None or bn3 is None else \
                (bn1, c2["sign"], geo, c2["threshold"], c2["flip"], f3["sign"], bn3)
            cache[hw] = (operands, words)
        return cache[hw]

    def parallel_middle(self, batch: int, words: int) -> bool:
        """Whether the compiled middle runs its images in parallel (enough work for PyTorch's thread count)."""
        return batch > 1 and kernel_threads(batch * words) > 1

    def middle(self, c1: torch.Tensor) -> torch.Tensor:
        """conv1's float output → bn1, sign, conv2, bn2 + sign, fc3, bn3, hard-tanh in one compiled call:
        fc4's input, float32 (B, hidden), the same numbers as the float model's."""
        a = as_floats(c1)
        operands, words = self.fused_operands(a.shape[2:])
        if operands is None:
            raise RuntimeError("this PyTorch's batch-norm arithmetic is not reproduced: the compiled middle is off")
        out = np.empty((a.shape[0], self.fc3.shape[0]), np.float32)
        return torch.from_numpy(run_core(a, operands, out, self.parallel_middle(a.shape[0], words)))

    def conv1_output(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 in fp32, the trained layer's own call (``F.conv2d``, then its bias if any)."""
        conv1 = self.conv1
        c1 = F.conv2d(x if x.device.type == "cpu" else x.cpu(), conv1.weight, None, conv1.stride, conv1.padding)
        return c1 if conv1.bias is None else c1 + conv1.bias.view(1, -1, 1, 1)

    def last_layer(self, h: torch.Tensor) -> torch.Tensor:
        """fc4 in fp32 on the middle's output, the trained layer's own call (``F.linear``, then ``+ bias``)."""
        y = F.linear(h, self.fc4.weight)
        return y if self.fc4.bias is None else y + self.fc4.bias

    def first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 and bn1 in float: the input of the first binary layer (whose sign = sign of its hard-tanh)."""
        return self.bn1(self.conv1(x if x.device.type == "cpu" else x.cpu()))

    def head(self, z):
        """From fc3's output to the logits (bn3, hard-tanh, fc4; or fc4's XNOR on fc3's bits)."""
        return self.fc4(z) if self.edges_binary else self.fc4(self.act(self.bn3(z)))

    def forward(self, x):
        if self.edges_binary:
            return self.head(self.fc3(self.conv2(self.first_layer(x))))
        c1 = self.conv1_output(x)
        if self.fused_operands(c1.shape[2:])[0] is None:  # the module path
            return self.head(self.fc3(self.conv2(self.bn1(c1))))
        return self.last_layer(self.middle(c1))
