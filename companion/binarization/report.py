"""What a packed binary network costs: bytes per layer, a float reference for timing, and where its time goes."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..measure import latency_table
from .bitcore import as_floats
from .fused import stages
from .layers import BinaryConv2d, BinaryLinear, binary_layers
from .packed import save_arrays


def size_report(model: nn.Module, packed_folder, fp32_folder) -> list[dict]:
    """Per binarized layer: bytes of its fp32 weights as ``.npy`` and of its packed bit planes.

    ``model`` is the trained binary model (its latent fp32 weights are written to ``fp32_folder``);
    ``packed_folder`` was written by :func:`~companion.binarization.packed.save_packed`. Both are real files of
    the same format (``.npy``, 128-byte header).
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
    twin.load_state_dict({k: v for k, v in layer.state_dict().items() if k in ("weight", "bias")})
    return twin.cpu().eval()


def _interleaved(callables: dict, x: torch.Tensor, rounds: int, min_run_time: float, threads) -> tuple[dict, dict]:
    rows = latency_table(callables, x, rounds=rounds, min_run_time=min_run_time, threads=threads)
    return {r["model"]: r["ms"] for r in rows}, rows[-1]


def breakdown_stages(model: nn.Module, x: torch.Tensor) -> dict:
    """The stages of a :class:`~companion.binarization.network.PackedBNN` forward on ``x``, as callables on ``x``.

    ``{label: (kind, callable)}``; each callable replays one stage on the input it really receives.
    Kinds: full-precision layers, packing, kernel, thresholds (a pair: the kernel with and without them).
    """
    if model.fused:
        return _fused_stages(model, x)
    with torch.no_grad():
        h = model.first_layer(x)
        xp = model.conv2.pack(h)
        bits = model.conv2.from_words(xp)
        z = model.fc3(bits)
    stages = {
        "conv1 + bn1 (fp32)": ("full-precision layers", lambda _: model.first_layer(x)),
        "pack the signs of bn1's output": ("packing", lambda _: model.conv2.pack(h)),
        "conv2 XNOR-popcount": ("kernel", lambda _: model.conv2.from_words(xp, thresholds=False)),
        "conv2 with bn2 + sign thresholds": ("thresholds", lambda _: model.conv2.from_words(xp)),
        "fc3 XNOR-popcount": ("kernel", lambda _: model.fc3.integers(bits)),
    }
    if model.edges_binary:
        stages["fc3 with bn3 + sign thresholds"] = ("thresholds", lambda _: model.fc3(bits))
        stages["fc4 XNOR-popcount + bias"] = ("kernel", lambda _: model.head(z))
    else:
        stages["bn3, hard-tanh, fc4 (fp32)"] = ("full-precision layers", lambda _: model.head(z))
    return stages


def _fused_stages(model: nn.Module, x: torch.Tensor) -> dict:
    """The stages of a fused :class:`~companion.binarization.network.PackedBNN`: conv1 and fc4 in PyTorch, and
    the compiled middle's stages one by one (:func:`companion.binarization.fused.stages`), serial or parallel
    over images as the middle runs at this batch size."""
    with torch.no_grad():
        c1 = model.conv1_output(x)
        a = as_floats(c1)
        operands, words = model.fused_operands(a.shape[2:])
        parallel = model.parallel_middle(a.shape[0], words)
        st = stages(a, operands, parallel)
        h = torch.from_numpy(st["out"])

    def stage(name):  # (the thread count set as the whole forward sets it, then the stage)
        return lambda _: (model.parallel_middle(a.shape[0], words), st[name]())[1]
    return {
        "conv1 (fp32, PyTorch)": ("full-precision layers", lambda _: model.conv1_output(x)),
        "bn1 + sign → packed words (compiled)": ("packing", stage("pack")),
        "conv2 XNOR-popcount": ("kernel", stage("conv2")),
        "conv2 with bn2 + sign thresholds": ("thresholds", stage("conv2_thresholds")),
        "fc3 XNOR-popcount": ("kernel", stage("fc3")),
        "bn3 + hard-tanh (fp32, compiled)": ("full-precision layers", stage("bn3")),
        "fc4 (fp32, PyTorch)": ("full-precision layers", lambda _: model.last_layer(h)),
    }


def time_breakdown(model: nn.Module, x: torch.Tensor, *, rounds: int = 5, min_run_time: float = 0.05,
                   threads: int | None = None, timer=None) -> dict:
    """Where a :class:`~companion.binarization.network.PackedBNN` spends its time on ``x``: every stage timed
    in one interleaved run with the whole forward pass, at one thread count.

    A "thresholds" stage is timed as its kernel with the thresholds, and its row is the *difference* with
    the kernel alone (clipped at 0); "glue" is the whole forward minus the stages (Python calls, conversions;
    clipped at 0: a fused call can beat its parts timed apart). Shares are of the whole forward, or of the sum of
    the stages where that is larger, so they add up to 1. ``timer(callables, x, rounds, min_run_time,
    threads) -> ({label: ms}, latency row)`` replaces the measurement (tests). Returns ``{"stages": rows
    (stage, kind, ms, share of the whole), "whole_ms", "latency": the whole forward's latency_table row}``.
    """
    stages = breakdown_stages(model, x)
    callables = {label: fn for label, (_, fn) in stages.items()}
    callables["whole forward"] = model
    ms, latency = (timer or _interleaved)(callables, x, rounds, min_run_time, threads)
    whole, rows, kernel_ms = ms["whole forward"], [], 0.0
    for label, (kind, _) in stages.items():
        t = ms[label]
        if kind == "kernel":
            kernel_ms = t
        elif kind == "thresholds":  # the kernel with its thresholds, minus the kernel alone (the row before)
            t = max(t - kernel_ms, 0.0)
        rows.append({"stage": label, "kind": kind, "ms": t})
    glue = whole - sum(r["ms"] for r in rows)
    rows.append({"stage": "Python calls and conversions", "kind": "glue", "ms": max(glue, 0.0)})
    total = max(whole, sum(r["ms"] for r in rows))  # the stages timed apart can add up to more than the whole
    for r in rows:
        r["share"] = r["ms"] / total
    return {"stages": rows, "whole_ms": whole, "latency": latency}


EMPTY_CALL = "empty module (the cost of a call)"


class EmptyCall(nn.Module):
    """A module that returns a preallocated output and computes nothing: what calling *any* drop-in layer
    costs in the timing harness (``nn.Module.__call__``, inference mode, the timer's loop), the floor under
    every latency of a small layer."""

    def __init__(self, out: torch.Tensor):
        super().__init__()
        self.out = out

    def forward(self, x):
        return self.out


def layer_forms(layer: BinaryLinear | BinaryConv2d, x: torch.Tensor, bn: nn.Module | None = None,
                floor: bool = False) -> dict:
    """One binarized layer on input ``x`` in four forms, as callables on ``x`` for ``measure.latency_table``:

    - ``fp32 PyTorch``: :func:`float_twin` (the reference);
    - ``packed layer (float in, float out)``: a :class:`~companion.binarization.packed.PackedLayer`, a drop-in
      replacement: signs packed, XNOR-popcount, integers back as float32;
    - ``kernel (bits in, integers out)``: the XNOR-popcount kernel on the input already packed;
    - ``binary block (bits in, bits out)``: the kernel with ``bn`` + sign folded into thresholds (a fresh batch
      norm's when ``bn`` is None: the cost does not depend on their values), as between two binary layers;
    - with ``floor``, :data:`EMPTY_CALL`: an :class:`EmptyCall` of the layer's output shape.
    """
    from .fold import sign_thresholds
    from .network import BinaryConvBlock, BinaryLinearBlock
    from .packed import PackedLayer

    packed = PackedLayer(layer)
    xp = packed.pack_input(x)
    channels = layer.out_channels if isinstance(layer, BinaryConv2d) else layer.out_features
    with torch.random.fork_rng(devices=[]):
        bn = bn or (nn.BatchNorm2d if isinstance(layer, BinaryConv2d) else nn.BatchNorm1d)(channels).eval()
    if isinstance(layer, BinaryConv2d):
        block = BinaryConvBlock(layer, bn)
        bits = lambda _: block.from_words(xp)  # noqa: E731
    else:
        block = BinaryLinearBlock(layer)
        block.threshold, block.flip = sign_thresholds(bn, layer.in_features)
        bits = lambda _: block(xp)  # noqa: E731
    forms = {"fp32 PyTorch": float_twin(layer), "packed layer (float in, float out)": packed,
             "kernel (bits in, integers out)": lambda _: packed.kernel(xp), "binary block (bits in, bits out)": bits}
    if floor:
        with torch.no_grad():
            forms[EMPTY_CALL] = EmptyCall(torch.empty_like(packed(x)))
    return forms
