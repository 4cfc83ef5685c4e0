"""Trained binary networks in packed form: the converter, the packed layers and the packed file.

:func:`to_packed` turns a model with :class:`~companion.binarization.BinaryLinear` /
:class:`~companion.binarization.BinaryConv2d` layers into an inference-only copy whose binarized
layers hold uint64 bit planes (:mod:`companion.bitpack`): XNOR + popcount where the activations are
binary (BNN, XNOR-Net), packed storage and a float matmul where they are real (BinaryConnect, BWN,
ternary). The float layers (first, last, batch norm) are kept as they are. Outputs are identical
to the float ±1 model's. :func:`save_packed` writes the real artifact (a folder of ``.npy`` files).
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
from ..measure import latency_ms, torch_threads  # noqa: F401  (torch_threads re-exported for the notebook)
from .binarize import BinarizeConfig, input_scale
from .kernels import (_numpy, binary_conv2d, binary_linear, pack_bits_lsb64, pack_conv_weight, pack_linear_weight,
                      pack_signs, pack_signs_nchw, unpack_bits_lsb64, unpack_pm1, xnor_conv2d, xnor_linear)
from .layers import BinaryConv2d, BinaryLinear, BinaryNet, binary_layers


class PackedLayer(nn.Module):
    """Inference-only form of a :class:`BinaryLinear` / :class:`BinaryConv2d` with packed weights.

    Binary activations (BNN, XNOR-Net): the input's signs are packed and the layer runs the XNOR +
    popcount kernel. Real activations (BinaryConnect, BWN, ternary, a binarized first layer): the
    weights are stored packed (1 bit; ternary 2 bits: sign and non-zero planes) and unpacked once
    for a float matmul. Scales are applied after, in the same order as the float layer, so the
    outputs are identical. CPU only.
    """

    def __init__(self, layer: BinaryLinear | BinaryConv2d):
        super().__init__()
        self.conv = isinstance(layer, BinaryConv2d)
        self.xnor = layer.activation_mode != "real"
        if self.xnor and layer.weight_mode not in ("sign", "stochastic", "scaled_sign"):
            raise ValueError(f"XNOR inference needs binary weights, got weight mode {layer.weight_mode!r}")
        self.input_scaling = layer.activation_mode == "scaled_sign"
        self.shape = tuple(layer.weight.shape)
        self.stride = layer.stride[0] if self.conv else 1
        self.padding = layer.padding[0] if self.conv else 0
        layer = layer.cpu().eval()
        with torch.no_grad():
            unit, scale = layer.unit_weight()
        self.register_buffer("scale", None if scale is None else scale.detach().clone())
        self.register_buffer("bias", None if layer.bias is None else layer.bias.detach().clone())
        self.set_planes(self.pack_planes(unit.detach()))

    def pack_planes(self, unit: torch.Tensor) -> dict[str, np.ndarray]:
        """Weights in {-1, (0,) +1} → the packed bit planes stored in the file."""
        if self.xnor:
            return {"sign": pack_conv_weight(unit) if self.conv else pack_linear_weight(unit)}
        flat = _numpy(unit).reshape(unit.shape[0], -1)
        if not np.isin(flat, (-1.0, 0.0, 1.0)).all():
            raise ValueError("unit weights must be in {-1, 0, +1} to pack")
        planes = {"sign": pack_bits_lsb64(flat < 0)}
        if (flat == 0).any():  # ternary: a second plane marks the non-zeros
            planes["nonzero"] = pack_bits_lsb64(flat != 0)
        return planes

    def set_planes(self, planes: dict[str, np.ndarray]) -> None:
        self.planes = {k: np.ascontiguousarray(v, dtype=np.uint64) for k, v in planes.items()}
        if not self.xnor:  # unpack once for the float matmul
            fan_in = int(np.prod(self.shape[1:]))
            unit = unpack_pm1(self.planes["sign"], fan_in)
            if "nonzero" in self.planes:
                unit = unit * unpack_bits_lsb64(self.planes["nonzero"], fan_in)
            self.unit = torch.from_numpy(unit.reshape(self.shape))

    def pack_input(self, x: torch.Tensor) -> np.ndarray:
        """Signs of the input packed for the kernel: (B, ⌈n/64⌉), or (B, H, W, ⌈C/64⌉) for a convolution."""
        return pack_signs_nchw(x) if self.conv else pack_signs(x)

    def kernel(self, xp: np.ndarray) -> torch.Tensor:
        """``x_b ⊛ W_b`` from the XNOR-popcount kernel on packed inputs, int32 (NCHW for a convolution)."""
        if self.conv:
            return torch.from_numpy(xnor_conv2d(xp, self.planes["sign"], self.shape[1], self.stride, self.padding))
        return torch.from_numpy(xnor_linear(xp, self.planes["sign"], self.shape[1]))

    def integer_output(self, x: torch.Tensor) -> torch.Tensor:
        """``sign(x) ⊛ W_b`` as int32: the same integers as the float ±1 computation."""
        return self.kernel(self.pack_input(x))

    def binary_product(self, x: torch.Tensor) -> torch.Tensor:
        """The same integers as float32, with packing fused into the kernel (the fast path of ``forward``)."""
        a = x.detach().numpy()
        if self.conv:
            return torch.from_numpy(binary_conv2d(a, self.planes["sign"], self.stride, self.padding))
        return torch.from_numpy(binary_linear(a, self.planes["sign"]))

    def forward(self, x):
        if x.device.type != "cpu":
            x = x.cpu()
        if self.xnor:
            y = self.binary_product(x)
        elif self.conv:
            y = F.conv2d(x, self.unit, None, self.stride, self.padding)
        else:
            y = F.linear(x, self.unit)
        scale, bias = self._buffers["scale"], self._buffers["bias"]
        if scale is not None:
            y = y * (scale.view(1, -1, 1, 1) if self.conv and scale.numel() > 1 else scale)
        if self.input_scaling:
            y = y * (input_scale(x, self.shape[2], self.stride, self.padding) if self.conv else input_scale(x))
        if bias is not None:
            y = y + (bias.view(1, -1, 1, 1) if self.conv else bias)
        return y

    def extra_repr(self) -> str:
        kind = "xnor-popcount" if self.xnor else "packed weights, float matmul"
        return f"{'conv' if self.conv else 'linear'} {self.shape}, {kind}"


def to_packed(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the CPU, in eval mode, with every binarized layer replaced by a :class:`PackedLayer`."""
    packed = copy.deepcopy(model).cpu().eval()
    layers = binary_layers(packed)
    if not layers:
        raise ValueError("the model has no binarized layers (BinaryLinear/BinaryConv2d with binary weights)")
    for name, layer in layers.items():
        parent, _, attr = name.rpartition(".")
        setattr(packed.get_submodule(parent), attr, PackedLayer(layer))
    return packed


def packed_layers(model: nn.Module) -> dict[str, PackedLayer]:
    return {n: m for n, m in model.named_modules() if isinstance(m, PackedLayer)}


def save_arrays(arrays: dict, folder) -> Path:
    """Each array (or tensor) to ``folder/<name>.npy``; returns the folder (its size is the artifact's)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        numpy_save_atomic(_numpy(a), folder / f"{name}.npy")
    return folder


def save_packed(model: nn.Module, folder) -> Path:
    """Write a packed :class:`BinaryNet` as a folder: bit planes and float tensors as ``.npy``, ``meta.json``.

    ``<layer>.sign.npy`` (and ``<layer>.nonzero.npy`` for ternary) hold the packed uint64 weights;
    every remaining tensor (first/last layers, batch norm, scales) is saved as it is. Earlier
    ``.npy`` files and ``meta.json`` in ``folder`` are replaced, so the folder's size is this model's.
    """
    if sys.byteorder != "little":
        raise RuntimeError("the packed format is little-endian")
    if not (isinstance(getattr(model, "config", None), BinarizeConfig) and hasattr(model, "arch")):
        raise TypeError("save_packed writes packed BinaryNet models (from to_packed(BinaryNet(...)))")
    folder = Path(folder)
    for old in [*folder.glob("*.npy"), folder / "meta.json"]:
        old.unlink(missing_ok=True)
    layers = packed_layers(model)
    arrays = {f"{n}.{k}": v for n, layer in layers.items() for k, v in layer.planes.items()}
    arrays.update(model.state_dict())
    folder = save_arrays(arrays, folder)
    meta = {"config": vars(model.config), "arch": model.arch,
            "layers": {n: sorted(m.planes) for n, m in layers.items()}}
    write_json_atomic(meta, folder / "meta.json")
    return folder


def load_packed(folder) -> nn.Module:
    """Read a folder written by :func:`save_packed` back into a runnable packed :class:`BinaryNet`."""
    folder = Path(folder)
    if not (folder / "meta.json").exists():
        raise FileNotFoundError(f"no packed model at {folder} (meta.json missing)")
    meta = json.loads((folder / "meta.json").read_text())
    arch = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["arch"].items()}
    model = to_packed(BinaryNet(BinarizeConfig(**meta["config"]), **arch))
    for name, layer in packed_layers(model).items():
        layer.set_planes({k: np.load(folder / f"{name}.{k}.npy") for k in meta["layers"][name]})
    state = {k: torch.from_numpy(np.load(folder / f"{k}.npy")) for k in model.state_dict()}
    model.load_state_dict(state)
    return model.eval()


def size_report(model: nn.Module, packed_folder, fp32_folder) -> list[dict]:
    """Per binarized layer: bytes of its fp32 weights as ``.npy`` and of its packed bit planes.

    ``model`` is the trained binary model (its latent fp32 weights are written to ``fp32_folder``);
    ``packed_folder`` was written by :func:`save_packed`. Both are real files of the same format.
    """
    packed_folder, rows = Path(packed_folder), []
    for name, layer in binary_layers(model).items():
        fp32 = save_arrays({f"{name}.weight": layer.weight.detach().float()}, fp32_folder) / f"{name}.weight.npy"
        planes = sorted(packed_folder.glob(f"{name}.sign.npy")) + sorted(packed_folder.glob(f"{name}.nonzero.npy"))
        if not planes:
            raise FileNotFoundError(f"no packed planes of layer {name!r} in {packed_folder}")
        packed = sum(p.stat().st_size for p in planes)
        rows.append({"layer": name, "shape": tuple(layer.weight.shape), "params": layer.weight.numel(),
                     "fp32_bytes": fp32.stat().st_size, "packed_bytes": packed,
                     "ratio": fp32.stat().st_size / packed})
    return rows


def record_calls(model: nn.Module, x: torch.Tensor, names) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """(name, module, input) of every call of the named submodules in one forward pass on ``x``."""
    calls, hooks = [], []
    for name in names:
        hook = (lambda m, inp, out, name=name: calls.append((name, m, inp[0])))
        hooks.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return calls


def float_twin(layer: BinaryLinear | BinaryConv2d) -> nn.Module:
    """A plain fp32 ``nn.Linear``/``nn.Conv2d`` of the same shape holding the latent weights (timing reference)."""
    if isinstance(layer, BinaryConv2d):
        twin = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                         bias=layer.bias is not None)
    else:
        twin = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    twin.load_state_dict(layer.state_dict())
    return twin.cpu().eval()


def stage_latency(model: nn.Module, x: torch.Tensor, *, min_run_time: float = 0.05) -> list[dict]:
    """Where a forward pass spends its time: each call of a direct child of ``model``, timed alone.

    Every child call of one forward pass on ``x`` is replayed on its recorded input with
    :func:`companion.measure.latency_ms`. An XNOR :class:`PackedLayer` is split into packing the
    input signs and the XNOR-popcount kernel (the fused call's time, shared in the proportion of the
    two timed apart) and the rest (scales, call overhead). Rows: ``stage``, ``module``, ``ms``.
    Their sum misses only the Python glue of ``model.forward`` (flatten, calls).
    """
    calls = record_calls(model, x, [n for n, _ in model.named_children()])
    rows = []
    for name, m, inp in calls:
        t = latency_ms(m, inp, min_run_time=min_run_time).median_ms
        if isinstance(m, PackedLayer) and m.xnor:
            xp = m.pack_input(inp)
            t_pack = latency_ms(m.pack_input, inp, min_run_time=min_run_time).median_ms
            t_kernel = latency_ms(lambda _: m.kernel(xp), inp, min_run_time=min_run_time).median_ms
            t_fused = latency_ms(m.binary_product, inp, min_run_time=min_run_time).median_ms
            rows += [{"stage": "pack signs", "module": name, "ms": t_fused * t_pack / (t_pack + t_kernel)},
                     {"stage": "xnor-popcount kernel", "module": name, "ms": t_fused * t_kernel / (t_pack + t_kernel)},
                     {"stage": "scales, call overhead", "module": name, "ms": max(t - t_fused, 0.0)}]
        else:
            rows.append({"stage": type(m).__name__, "module": name, "ms": t})
    return rows
