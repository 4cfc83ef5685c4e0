"""Trained binary networks in packed form: the packed layer, the converter and the packed file.

:func:`to_packed` turns a model with :class:`~companion.binarization.BinaryLinear` /
:class:`~companion.binarization.BinaryConv2d` layers into an inference-only copy whose binarized layers hold
their weights as uint64 bit planes, registered as **buffers**: ``state_dict``, :func:`companion.measure.size_bytes`
and the saved file all see them. XNOR + popcount where the activations are binary (BNN, XNOR-Net); packed
storage and a float matmul where they are real (BinaryConnect, BWN, ternary). The float layers (first, last,
batch norm) stay as they are, and outputs are identical to the float ±1 model's. The BNN packed end to end,
bits to bits, is :class:`~companion.binarization.network.PackedBNN`. :func:`save_packed` writes the artifact: one
``.npy`` per ``state_dict`` entry and ``meta.json``, so the bytes in memory are the bytes in the file.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..io import numpy_save_atomic, write_json_atomic
from ..measure import torch_threads  # noqa: F401  (re-exported for the notebook)
from .binarize import BinarizeConfig, input_scale
from .bitcore import as_floats, as_numpy
from .conv import binary_conv2d, xnor_conv2d
from .gemm import binary_linear, xnor_linear
from .layers import BinaryConv2d, BinaryLinear, BinaryNet, binary_layers
from .packing import (pack_bits_lsb64, pack_conv_weight, pack_linear_weight, pack_signs, pack_signs_nchw,
                      unpack_bits_lsb64, unpack_pm1)

ENGINE = "numba-xnor"


def check_packable(layer: nn.Module) -> None:
    """Raise a clear error for a layer that has no exact packed form."""
    if not isinstance(layer, (BinaryLinear, BinaryConv2d)):
        raise TypeError(f"expected a BinaryLinear or BinaryConv2d, got {type(layer).__name__}")
    if layer.weight_mode == "stochastic":
        raise ValueError("a stochastic BinaryConnect layer is evaluated with its real-valued weights, as in the "
                         "paper (Courbariaux et al. 2015, §2.6): it has no binary form to pack; train with "
                         "BinarizeConfig(..., stochastic_inference='sign') to deploy sign(w)")
    if isinstance(layer, BinaryConv2d) and (layer.groups != 1 or layer.dilation != (1, 1)):
        raise ValueError(f"packed convolutions need groups=1 and dilation=1, got {layer.groups}, {layer.dilation}")


class BufferViews:
    """Mixin for packed modules: NumPy views of their buffers, cached, since reading a buffer through
    ``nn.Module.__getattr__`` and ``Tensor.numpy()`` costs about a microsecond each, per call.

    The cache is dropped when the buffers may change: after ``load_state_dict``, on ``.to()``/``.cpu()``
    (``_apply``), and it is never copied or pickled.
    """

    def views(self) -> dict[str, np.ndarray]:
        cache = self.__dict__.get("_views")
        if cache is None:
            cache = {k: v.detach().cpu().numpy() for k, v in self._buffers.items() if v is not None}
            self.__dict__["_views"] = cache  # a plain attribute: bypasses nn.Module.__setattr__
        return cache

    def drop_views(self, *_) -> None:
        self.__dict__.pop("_views", None)

    def _apply(self, fn, *args, **kwargs):
        self.drop_views()
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_views", None)
        return state


class PackedLayer(BufferViews, nn.Module):
    """Inference-only form of a :class:`BinaryLinear` / :class:`BinaryConv2d` with packed weights (buffers).

    Binary activations (BNN, XNOR-Net): the input's signs are packed and the layer runs the XNOR-popcount
    kernel (on PyTorch's thread count). Real activations (BinaryConnect, BWN, ternary, a binarized first
    layer): the weights are stored packed (1 bit; ternary 2 bits: ``sign`` and ``nonzero`` planes) and
    unpacked once for a float matmul. Scales are applied after, in the same order as the float layer, so
    the outputs are identical. CPU only.
    """

    def __init__(self, layer: BinaryLinear | BinaryConv2d):
        super().__init__()
        check_packable(layer)
        self.conv = isinstance(layer, BinaryConv2d)
        self.xnor = layer.activation_mode != "real"
        if self.xnor and layer.weight_mode not in ("sign", "stochastic_sign", "scaled_sign"):
            raise ValueError(f"XNOR inference needs binary weights, got weight mode {layer.weight_mode!r}")
        self.engine = ENGINE if self.xnor else "pytorch"
        self.input_scaling = layer.activation_mode == "scaled_sign"
        self.shape = tuple(layer.weight.shape)
        self.stride = tuple(layer.stride) if self.conv else (1, 1)
        self.padding = tuple(layer.padding) if self.conv else (0, 0)
        layer = copy.deepcopy(layer).cpu().eval()
        with torch.no_grad():
            unit, scale = layer.unit_weight()
        self.register_buffer("scale", None if scale is None else scale.detach().clone())
        self.register_buffer("bias", None if layer.bias is None else layer.bias.detach().clone())
        planes = self.pack_planes(unit.detach())
        self.register_buffer("sign", torch.from_numpy(planes["sign"]))
        self.register_buffer("nonzero", torch.from_numpy(planes["nonzero"]) if "nonzero" in planes else None)
        self.register_load_state_dict_post_hook(lambda module, keys: module._unpack())
        self._unpack()
        self.plain = self.xnor and scale is None and layer.bias is None and not self.input_scaling  # BNN: no scales

    def pack_planes(self, unit: torch.Tensor) -> dict[str, np.ndarray]:
        """Weights in {-1, (0,) +1} → the packed bit planes (uint64)."""
        if self.xnor:
            return {"sign": pack_conv_weight(unit) if self.conv else pack_linear_weight(unit)}
        flat = as_numpy(unit).reshape(unit.shape[0], -1)
        if not np.isin(flat, (-1.0, 0.0, 1.0)).all():
            raise ValueError("unit weights must be in {-1, 0, +1} to pack")
        planes = {"sign": pack_bits_lsb64(flat < 0)}
        if (flat == 0).any():  # ternary: a second plane marks the non-zeros
            planes["nonzero"] = pack_bits_lsb64(flat != 0)
        return planes

    @property
    def planes(self) -> dict[str, np.ndarray]:
        """The bit planes as NumPy arrays (views of the buffers)."""
        return {k: getattr(self, k).numpy() for k in ("sign", "nonzero") if getattr(self, k) is not None}

    def _unpack(self) -> None:
        self.drop_views()
        if not self.xnor:  # unpack once for the float matmul (a cache, not part of the state)
            fan_in = int(np.prod(self.shape[1:]))
            unit = unpack_pm1(self.sign.numpy(), fan_in)
            if self.nonzero is not None:
                unit = unit * unpack_bits_lsb64(self.nonzero.numpy(), fan_in)
            self.unit = torch.from_numpy(unit.reshape(self.shape))

    @property
    def weight_count(self) -> int:
        """Number of binary (or ternary) weights the planes hold."""
        return int(np.prod(self.shape))

    def pack_input(self, x: torch.Tensor) -> np.ndarray:
        """Signs of the input packed for the kernel: (B, ⌈n/64⌉), or (B, H, W, ⌈C/64⌉) for a convolution."""
        return pack_signs_nchw(x) if self.conv else pack_signs(x)

    def kernel(self, xp: np.ndarray) -> torch.Tensor:
        """``x_b ⊛ W_b`` from the XNOR-popcount kernel on packed inputs, int32 (NCHW for a convolution)."""
        if self.conv:
            return torch.from_numpy(xnor_conv2d(xp, self.views()["sign"], self.shape[1], self.stride, self.padding))
        return torch.from_numpy(xnor_linear(xp, self.views()["sign"], self.shape[1]))

    def integer_output(self, x: torch.Tensor) -> torch.Tensor:
        """``sign(x) ⊛ W_b`` as int32: the same integers as the float ±1 computation."""
        return self.kernel(self.pack_input(x))

    def binary_product(self, x: torch.Tensor) -> torch.Tensor:
        """The same integers as float32, packing fused into the kernel (the fast path of ``forward``)."""
        if self.conv:
            return torch.from_numpy(binary_conv2d(x, self.views()["sign"], self.stride, self.padding))
        return torch.from_numpy(binary_linear(x, self.views()["sign"]))

    def plain_linear(self, x) -> torch.Tensor:
        """A plain binary linear layer (no scale, no bias) on real inputs (B, n), with the input length checked
        exactly: the packed weights only know their word count, so a wrong length within the same ⌈n/64⌉
        words would otherwise pass and count padding bits."""
        a = as_floats(x)
        if a.ndim != 2 or a.shape[1] != self.shape[1]:
            raise ValueError(f"expected inputs (B, {self.shape[1]}), got {tuple(a.shape)}")
        return torch.from_numpy(binary_linear(a, self.views()["sign"]))

    def forward(self, x):
        if self.plain:  # sign weights and activations, no scale, no bias: the integers are the output
            return self.binary_product(x) if self.conv else self.plain_linear(x)
        if x.device.type != "cpu":
            x = x.cpu()
        if self.xnor:
            y = self.binary_product(x)
        elif self.conv:
            y = F.conv2d(x, self.unit, None, self.stride, self.padding)
        else:
            y = F.linear(x, self.unit)
        if self.scale is not None:
            y = y * (self.scale.view(1, -1, 1, 1) if self.conv and self.scale.numel() > 1 else self.scale)
        if self.input_scaling:
            y = y * (input_scale(x, self.shape[2:], self.stride, self.padding) if self.conv else input_scale(x))
        if self.bias is not None:
            y = y + (self.bias.view(1, -1, 1, 1) if self.conv else self.bias)
        return y

    def extra_repr(self) -> str:
        kind = "xnor-popcount" if self.xnor else "packed weights, float matmul"
        return f"{'conv' if self.conv else 'linear'} {self.shape}, {kind}"


def to_packed(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the CPU, in eval mode, with every binarized layer replaced by a :class:`PackedLayer`."""
    layers = binary_layers(model)
    if not layers:
        raise ValueError("the model has no binarized layers (BinaryLinear/BinaryConv2d with binary weights)")
    for layer in layers.values():
        check_packable(layer)
    packed = copy.deepcopy(model).cpu().eval()
    for name in layers:
        parent, _, attr = name.rpartition(".")
        setattr(packed.get_submodule(parent), attr, PackedLayer(packed.get_submodule(name)))
    if any(m.xnor for m in packed_layers(packed).values()):
        packed.engine = ENGINE
    return packed


def packed_layers(model: nn.Module) -> dict[str, PackedLayer]:
    return {n: m for n, m in model.named_modules() if isinstance(m, PackedLayer)}


def count_weights(model: nn.Module, nonzero_only: bool = False) -> int:
    """Weights a packed model stores: its float parameters plus the binary weights of its bit planes.

    (``measure.count_params`` counts ``nn.Parameter``s only, so it misses weights held in bit-plane buffers.)
    ``nonzero_only``: the non-zero ones (ternary layers count the set bits of their ``nonzero`` plane).
    """
    floats = sum(int(torch.count_nonzero(p)) if nonzero_only else p.numel() for p in model.parameters())
    binary = 0
    for m in model.modules():
        if hasattr(m, "weight_count"):
            planes = m._buffers.get("nonzero")
            binary += int(np.unpackbits(planes.numpy().view(np.uint8)).sum()) if nonzero_only and planes is not None \
                else m.weight_count
    return floats + binary


def state_bytes(model: nn.Module) -> int:
    """Bytes of the tensors of ``model.state_dict()``: what :func:`save_packed` writes, headers aside."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def save_arrays(arrays: dict, folder) -> Path:
    """Each array (or tensor) to ``folder/<name>.npy``; returns the folder (its size is the artifact's)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        numpy_save_atomic(as_numpy(a), folder / f"{name}.npy")
    return folder


def _format(model: nn.Module) -> str:
    from .network import PackedBNN

    if isinstance(model, PackedBNN):
        return "bnn"
    if packed_layers(model) and isinstance(getattr(model, "config", None), BinarizeConfig) and hasattr(model, "arch"):
        return "layers"
    raise TypeError("save_packed writes packed BinaryNet models (to_packed(BinaryNet(...)) or PackedBNN(...))")


def save_packed(model: nn.Module, folder) -> Path:
    """Write a packed :class:`BinaryNet` as a folder: one ``<name>.npy`` per ``state_dict`` entry, and ``meta.json``.

    Bit planes (``<layer>.sign.npy``, ``<layer>.nonzero.npy`` for ternary; thresholds for a
    :class:`~companion.binarization.network.PackedBNN`) and float tensors alike; the payload bytes equal
    :func:`state_bytes` of the model. Earlier ``.npy`` files and ``meta.json`` in ``folder`` are replaced.
    """
    if sys.byteorder != "little":
        raise RuntimeError("the packed format is little-endian")
    kind = _format(model)
    folder = Path(folder)
    for old in [*folder.glob("*.npy"), folder / "meta.json"]:
        old.unlink(missing_ok=True)
    folder = save_arrays(model.state_dict(), folder)
    write_json_atomic({"format": kind, "config": vars(model.config), "arch": model.arch}, folder / "meta.json")
    return folder


def load_packed(folder) -> nn.Module:
    """Read a folder written by :func:`save_packed` back into a runnable packed model.

    The skeleton is built inside :func:`torch.random.fork_rng`: the caller's global RNG is neither reseeded
    nor consumed (its state is unchanged).
    """
    from .network import PackedBNN

    folder = Path(folder)
    if not (folder / "meta.json").exists():
        raise FileNotFoundError(f"no packed model at {folder} (meta.json missing)")
    meta = json.loads((folder / "meta.json").read_text())
    arch = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["arch"].items()}
    with torch.random.fork_rng(devices=[]):
        skeleton = BinaryNet(BinarizeConfig(**meta["config"]), **arch)
    model = PackedBNN(skeleton) if meta.get("format") == "bnn" else to_packed(skeleton)
    missing = [k for k in model.state_dict() if not (folder / f"{k}.npy").exists()]
    if missing:
        raise FileNotFoundError(f"the packed model at {folder} lacks {', '.join(f'{k}.npy' for k in missing)}")
    model.load_state_dict({k: torch.from_numpy(np.load(folder / f"{k}.npy")) for k in model.state_dict()})
    return model.eval()
