"""Real int8 inference on the CPU: PyTorch's quantized engines and ONNX Runtime.

Two engines families, both *static* post-training quantization (weights and activations in int8,
activation ranges calibrated on a few batches, Jacob et al. 2018):

- **PyTorch** (``torch.ao.quantization``, FX graph mode: ``prepare_fx`` → calibrate →
  ``convert_fx``) with the quantized engine ``x86`` (PyTorch's default since 2.0, fbgemm or
  oneDNN per op), ``fbgemm``, ``onednn`` or ``qnnpack`` (ARM-first, slow on x86). The engine is
  bound to the converted model: :class:`EngineModel` sets it only when the global engine differs, and
  its :meth:`~EngineModel.timing_context` sets it once around a whole timing loop.
- **ONNX Runtime** static quantization in the QDQ format (QuantizeLinear/DequantizeLinear pairs
  around each op, fused into int8 kernels by ORT): :func:`export_onnx` then :func:`quantize_onnx`,
  run with :class:`OrtModel`.

``torch.ao.quantization`` is deprecated in PyTorch 2.14 (its successor is torchao's PT2E flow)
but still works; the known deprecation warnings are filtered inside :func:`quiet`, around conversion
and export only (a converted model's forward warns nothing, so it runs without a filter).
Latency is measured with :mod:`companion.measure` (one protocol); a model's ``engine`` attribute is what
:func:`companion.measure.engine_of` records. Everything in this module runs on the CPU.
"""
from __future__ import annotations

import contextlib
import copy
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..io import save_state_dict

TORCH_ENGINES = ("x86", "fbgemm", "onednn", "qnnpack")
ORT = "onnxruntime"
ENGINES = TORCH_ENGINES + (ORT,)
_KNOWN_WARNINGS = (  # (category, message start) of the deprecation noise of the int8 paths
    (DeprecationWarning, "torch.ao.quantization is deprecated"),
    (UserWarning, "Please use quant_min and quant_max"),
    (UserWarning, "torch.quantize_per_tensor, torch.quantize_per_channel"),
    (DeprecationWarning, "You are using the legacy TorchScript-based ONNX export"),
    (DeprecationWarning, "The feature will be removed"),
)


@contextlib.contextmanager
def quiet():
    """Silence the known deprecation warnings of ``torch.ao.quantization`` and the ONNX exporter."""
    with warnings.catch_warnings():
        for category, start in _KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=start, category=category)
        yield


def available_engines() -> list[str]:
    """The int8 engines usable here: PyTorch's supported quantized engines, then ONNX Runtime."""
    found = [e for e in TORCH_ENGINES if e in torch.backends.quantized.supported_engines]
    try:
        import onnxruntime  # noqa: F401, PLC0415
        found.append(ORT)
    except ImportError:
        pass
    return found


def check_engine(engine: str) -> str:
    """``engine`` if it is known and available on this machine, else a ``ValueError`` naming the options."""
    if engine not in ENGINES:
        raise ValueError(f"unknown int8 engine {engine!r}; known engines: {', '.join(ENGINES)}")
    if engine not in available_engines():
        raise ValueError(f"int8 engine {engine!r} is not supported on this machine "
                         f"(CPU capability {torch.backends.cpu.get_cpu_capability()}); "
                         f"available: {', '.join(available_engines())}")
    return engine


INT8_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def cpu_flags() -> dict[str, bool]:
    """The int8-relevant instruction sets this CPU reports (Linux ``/proc/cpuinfo``; empty elsewhere):
    AVX2 and AVX-512 widths, VNNI int8 dot products (4× the int8 throughput of AVX2), AMX int8 tiles."""
    try:
        line = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags"))
    except (OSError, StopIteration):
        return {}
    flags = set(line.split(":", 1)[1].split())
    return {f: f in flags for f in INT8_CPU_FLAGS}


@contextlib.contextmanager
def quantized_engine(engine: str):
    """Set ``torch.backends.quantized.engine`` inside the block and restore it after."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


class EngineModel(nn.Module):
    """A converted int8 model bound to the PyTorch quantized engine it was converted for.

    A call switches the global ``torch.backends.quantized.engine`` only if it differs from the model's
    (and restores it); :meth:`timing_context` sets it once for a block of calls, so that a timer
    (:func:`companion.measure.latency_ms`) measures the int8 kernels and not the switch."""

    def __init__(self, model: nn.Module, engine: str):
        super().__init__()
        self.model, self.engine = model, engine

    def timing_context(self):
        """The block in which calls run without any per-call set-up (the model's engine set)."""
        return quantized_engine(self.engine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.backends.quantized.engine == self.engine:
            return self.model(x.cpu())
        with quantized_engine(self.engine):
            return self.model(x.cpu())


def _functional_relu(model: nn.Module) -> torch.fx.GraphModule:
    """Trace ``model`` and call ``F.relu`` where it calls ``torch.relu``, so FX fuses conv-bn-relu."""
    gm = torch.fx.symbolic_trace(model)
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in (torch.relu, torch.relu_):
            node.target = F.relu
    gm.recompile()
    return gm


def _batches(calibration):
    """Calibration inputs: a tensor (one batch), a list of tensors, or ``(x, y)`` pairs."""
    if isinstance(calibration, torch.Tensor):
        return [calibration]
    return [b[0] if isinstance(b, (tuple, list)) else b for b in calibration]


@torch.no_grad()
def quantize_fx(model: nn.Module, calibration, engine: str = "x86") -> EngineModel:
    """Static int8 PTQ with FX graph mode for ``engine``: fuse conv-bn-relu, observe activations on
    ``calibration`` (tensor, list of tensors or of ``(x, y)`` batches), convert to int8 kernels.

    Uses the engine's default qconfig (``x86``/``fbgemm``: per-channel int8 weights, histogram
    observer for uint8 activations). Returns an :class:`EngineModel` on the CPU.
    """
    check_engine(engine)
    if engine == ORT:
        raise ValueError("quantize_fx is for PyTorch engines; use export_onnx + quantize_onnx for onnxruntime")
    from torch.ao.quantization import get_default_qconfig_mapping  # noqa: PLC0415
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx  # noqa: PLC0415
    batches = _batches(calibration)
    fp32 = _functional_relu(copy.deepcopy(model).cpu().eval())
    with quantized_engine(engine), quiet():
        prepared = prepare_fx(fp32, get_default_qconfig_mapping(engine), example_inputs=(batches[0].cpu(),))
        for x in batches:
            prepared(x.cpu())
        return EngineModel(convert_fx(prepared), engine)


def save_model(model: nn.Module, path) -> Path:
    """``torch.save`` the ``state_dict`` of a float or int8 model (int8 weights stay packed int8)."""
    inner = model.model if isinstance(model, EngineModel) else model
    with quiet():
        return save_state_dict(inner, path)


# ---------------------------------------------------------------- ONNX Runtime
def export_onnx(model: nn.Module, example_input: torch.Tensor, path, opset: int = 17) -> Path:
    """Export ``model`` to ONNX with a dynamic batch axis (TorchScript-based exporter, one file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with quiet():
        torch.onnx.export(copy.deepcopy(model).cpu().eval(), (example_input.cpu(),), str(path), dynamo=False,
                          input_names=["input"], output_names=["logits"], opset_version=opset,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


class _Reader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over a list of batches."""

    def __init__(self, batches):
        self._it = iter([{"input": b.cpu().numpy()} for b in batches])

    def get_next(self):
        return next(self._it, None)


def quantize_onnx(fp32_path, int8_path, calibration, per_channel: bool = True) -> Path:
    """ONNX Runtime static int8 quantization in the QDQ format (uint8 activations, int8 weights,
    min-max calibration on ``calibration``), after ORT's shape inference and graph optimization."""
    check_engine(ORT)
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static  # noqa: PLC0415
    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(int8_path), _Reader(_batches(calibration)), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return int8_path


class OrtModel(nn.Module):
    """An ONNX Runtime CPU session as a module: tensor in, tensor out (``evaluate``/``latency_ms`` work).

    Uses ``threads`` intra-op threads (default ``torch.get_num_threads()``) and all graph optimizations.
    """

    def __init__(self, path, threads: int | None = None):
        super().__init__()
        import onnxruntime as ort  # noqa: PLC0415
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path, self.engine = str(path), ORT
        self.session = ort.InferenceSession(self.path, opts, providers=["CPUExecutionProvider"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"input": x.detach().cpu().numpy()})[0]
        return torch.from_numpy(out)

    def __deepcopy__(self, memo):
        return OrtModel(self.path, self.session.get_session_options().intra_op_num_threads)



# ---------------------------------------------------------------- one call per engine
def convert(model: nn.Module, engine: str, calibration, workdir, name: str = "model") -> tuple[nn.Module, Path]:
    """``model`` in int8 for ``engine``, and its saved artifact in ``workdir``.

    PyTorch engines: :func:`quantize_fx`, artifact ``<name>.<engine>.pt`` (the int8 ``state_dict``).
    ``"onnxruntime"``: :func:`export_onnx` + :func:`quantize_onnx`, artifact ``<name>.int8.onnx``,
    run by an :class:`OrtModel`.
    """
    check_engine(engine)
    workdir = Path(workdir)
    batches = _batches(calibration)
    if engine == ORT:
        fp32 = export_onnx(model, batches[0][:1], workdir / f"{name}.onnx")
        path = quantize_onnx(fp32, workdir / f"{name}.int8.onnx", batches)
        return OrtModel(path), path
    q = quantize_fx(model, batches, engine)
    return q, save_model(q, workdir / f"{name}.{engine}.pt")
