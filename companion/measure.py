"""One way to measure every model: parameters, MACs, bytes on disk and latency.

- MACs come from PyTorch's ``FlopCounterMode``, which counts 2 FLOPs per multiply-accumulate
  (only matmuls and convolutions; element-wise ops, BN and pooling are not counted), so
  ``macs = flops / 2``.
- Bytes are those of a real serialized artifact; ``params × bits / 8`` is the *analytic* size and
  is named so.
- Latency uses ``torch.utils.benchmark``: warm-up, many timed runs, median and interquartile range,
  with batch size, thread count, quantized engine and CPU capability recorded.
"""
from __future__ import annotations

import gzip
import io
import os
import platform
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def import_quietly(module: str):
    """Import ``module`` without the harmless 'No CUDA runtime is found' warning that importing
    ``torch.utils.cpp_extension`` logs on CPU-only machines (torch.utils.benchmark, torch-pruning)."""
    import importlib
    import logging
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return importlib.import_module(module)
    finally:
        log.setLevel(level)


def _benchmark():
    """``torch.utils.benchmark``, imported on first use."""
    return import_quietly("torch.utils.benchmark")


def count_params(model: nn.Module, nonzero_only: bool = False) -> int:
    """Number of parameters of ``model`` (only the non-zero ones with ``nonzero_only``)."""
    if nonzero_only:
        return sum(int(torch.count_nonzero(p.detach())) for p in model.parameters())
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, example_input: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on ``example_input`` (the whole batch).

    Built on ``torch.utils.flop_counter.FlopCounterMode``, which reports 2 FLOPs per MAC.
    """
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example_input)
    model.train(was_training)
    return counter.get_total_flops() // 2


@dataclass(frozen=True)
class ArtifactSize:
    """Bytes of a serialized artifact on disk, and of the same bytes gzip-compressed (level 9)."""

    bytes: int
    gzip_bytes: int


def _gzip_len(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def size_bytes(model_or_path) -> ArtifactSize:
    """Real size of a model's ``state_dict`` as ``torch.save`` writes it, or of a file or folder.

    A folder counts every file in it (an ONNX model with external data, a packed model).
    """
    if isinstance(model_or_path, nn.Module):
        buf = io.BytesIO()
        torch.save(model_or_path.state_dict(), buf)
        data = buf.getvalue()
        return ArtifactSize(len(data), _gzip_len(data))
    path = Path(model_or_path)
    if not path.exists():
        raise FileNotFoundError(f"no file or folder at {path}")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    data = b"".join(p.read_bytes() for p in files)
    return ArtifactSize(len(data), _gzip_len(data))


def analytic_size_bytes(model: nn.Module, bits: float = 32, nonzero_only: bool = False) -> float:
    """The analytic size ``params × bits / 8`` in bytes: no format, no indices, no metadata."""
    if bits <= 0:
        raise ValueError(f"bits must be > 0, got {bits}")
    return count_params(model, nonzero_only) * bits / 8


def environment() -> dict:
    """What decides a latency figure: device, threads, torch version, CPU and quantized engine."""
    return {
        "device": "cuda:" + torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "quantized_engine": torch.backends.quantized.engine,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


@dataclass(frozen=True)
class Latency:
    """One latency measurement: median and interquartile range in ms, and its conditions."""

    median_ms: float
    iqr_ms: float
    runs: int
    batch_size: int
    threads: int
    device: str
    quantized_engine: str
    cpu_capability: str

    def as_dict(self) -> dict:
        return asdict(self)


def _call(model):
    def run(x):
        with torch.inference_mode():
            return model(x)
    return run


def latency_ms(model, example_input: torch.Tensor, *, min_run_time: float = 0.3, warmup: int = 3,
               threads: int | None = None) -> Latency:
    """Latency of ``model(example_input)`` with ``torch.utils.benchmark.Timer``.

    ``warmup`` untimed calls, then ``blocked_autorange(min_run_time)``; ``threads`` defaults to
    ``torch.get_num_threads()``. ``model`` may be any callable (an ONNX Runtime session wrapper…).
    """
    if min_run_time <= 0:
        raise ValueError(f"min_run_time must be > 0 s, got {min_run_time}")
    if isinstance(model, nn.Module):
        model.eval()
    fn = _call(model)
    for _ in range(warmup):
        fn(example_input)
    threads = threads or torch.get_num_threads()
    timer = _benchmark().Timer(stmt="fn(x)", globals={"fn": fn, "x": example_input}, num_threads=threads)
    m = timer.blocked_autorange(min_run_time=min_run_time)
    env = environment()
    return Latency(m.median * 1e3, m.iqr * 1e3, len(m.times), int(example_input.shape[0]), threads,
                   str(example_input.device), env["quantized_engine"], env["cpu_capability"])


def compare_latency(baseline, candidate, example_input: torch.Tensor, *, rounds: int = 5,
                    min_run_time: float = 0.1, candidate_input: torch.Tensor | None = None) -> dict:
    """Time two models in one run, interleaved over ``rounds``, and return their ratio.

    ``speedup`` is the median over rounds of ``baseline time / candidate time`` (> 1 means the
    candidate is faster); ``baseline_ms`` and ``candidate_ms`` are the medians of each model's times.
    Each round times both models back to back, so drift of a shared machine cancels in the ratio.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    cand_x = example_input if candidate_input is None else candidate_input
    a, b = [], []
    for _ in range(rounds):
        a.append(latency_ms(baseline, example_input, min_run_time=min_run_time))
        b.append(latency_ms(candidate, cand_x, min_run_time=min_run_time))
    base_ms = statistics.median(x.median_ms for x in a)
    cand_ms = statistics.median(x.median_ms for x in b)
    speedup = statistics.median(x.median_ms / y.median_ms for x, y in zip(a, b))
    return {"baseline_ms": base_ms, "candidate_ms": cand_ms, "speedup": speedup,
            "batch_size": int(example_input.shape[0]), "threads": a[0].threads,
            "quantized_engine": a[0].quantized_engine, "cpu_capability": a[0].cpu_capability}


def profile(model: nn.Module, example_input: torch.Tensor, *, bits: int = 32,
            min_run_time: float = 0.3) -> dict:
    """The standard columns of a result row for ``model``: params, non-zeros, bytes, MACs, latency."""
    size = size_bytes(model)
    return {
        "params": count_params(model),
        "nonzero_params": count_params(model, nonzero_only=True),
        "bits": bits,
        "size_bytes": size.bytes,
        "gzip_bytes": size.gzip_bytes,
        "macs": count_macs(model, example_input),
        "latency_ms": latency_ms(model, example_input, min_run_time=min_run_time).median_ms,
        "batch_size": int(example_input.shape[0]),
    }


def save_state_dict(model: nn.Module, path) -> Path:
    """Save ``model.state_dict()`` to ``path`` atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(model.state_dict(), f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def torchvision_check(name: str, resolution: int = 224) -> dict:
    """Our MAC count of a torchvision model next to the GFLOPS torchvision publishes (which are GMACs).

    Needs no weights: the published figure is in the weights' metadata (``meta["_ops"]``).
    """
    from torchvision.models import get_model, get_model_weights

    weights = get_model_weights(name).DEFAULT
    model = get_model(name, weights=None)
    macs = count_macs(model, torch.zeros(1, 3, resolution, resolution))
    published = weights.meta["_ops"] * 1e9
    return {"model": name, "params": count_params(model), "published_params": weights.meta["num_params"],
            "macs": macs, "published_macs": published, "relative_error": macs / published - 1}
