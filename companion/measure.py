"""One way to measure every model: parameters, MACs, bytes on disk and latency.

- MACs come from PyTorch's ``FlopCounterMode``, which counts 2 FLOPs per multiply-accumulate
  (only matmuls and convolutions; element-wise ops, BN and pooling are not counted), so
  ``macs = flops / 2``.
- Bytes are those of a real serialized artifact; ``params × bits / 8`` is the *analytic* size and
  is named so.
- Latency uses ``torch.utils.benchmark``: warm-up, many timed runs, median and interquartile range,
  with batch size, thread count, engine and CPU capability recorded. Models are compared only in one
  run, interleaved, at one thread count (:func:`latency_table`, :func:`compare_latency`), and every
  comparison records how much CPU *other* processes used meanwhile (:class:`CpuMonitor`): a figure
  taken on a busy machine is marked as such, never passed off as a quiet one.
- :func:`print_conditions` prints the one ``Measurement conditions:`` line of a notebook.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .compat import import_quietly
from .io import save_state_dict  # noqa: F401  (re-exported: measure.save_state_dict is public)


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


# ---------------------------------------------------------------- the machine
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "avx512_vpopcntdq",
               "amx_bf16", "amx_int8", "amx_fp16")
QUIET_CORES = 0.2  # other processes may use at most this many cores' worth of CPU for a quiet measurement


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``), else what ``platform`` knows."""
    for line in _cpuinfo():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags(names=SPEED_FLAGS) -> dict[str, bool]:
    """Which of the instruction sets ``names`` this CPU reports (Linux ``/proc/cpuinfo``; empty elsewhere).

    The defaults are those that decide the speed of the sections' kernels: AVX2/AVX-512 widths, VNNI and
    AMX int8 dot products, AVX512-BF16/FP16 and AMX-BF16 half-precision arithmetic, VPOPCNTDQ popcounts.
    """
    line = next((ln for ln in _cpuinfo() if ln.startswith("flags")), None)
    if line is None:
        return {}
    flags = set(line.split(":", 1)[1].split())
    return {f: f in flags for f in names}


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), the default of every ``THREADS``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def environment() -> dict:
    """What a result row records of the machine: torch version, CPU, SIMD capability, cores.

    Where a figure was measured (device, threads, engine) is a property of the measurement, not of the
    machine: it is recorded by :func:`latency_fields` in the row itself.
    """
    return {
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


# ---------------------------------------------------------------- is the machine quiet?
def _busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (``/proc/stat``; steal time counts as busy)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CpuMonitor:
    """How many cores' worth of CPU *other* processes used between :meth:`start` and :meth:`stop`.

    The machine's busy time from ``/proc/stat`` minus this process's own CPU time (all its threads, and
    its finished children), over the wall time. Unlike the load average, it excludes our own work and does
    not lag. ``busy_other`` is ``None`` where ``/proc/stat`` does not exist.
    """

    def start(self) -> "CpuMonitor":
        self._t, self._busy, self._own = time.perf_counter(), _busy_seconds(), _own_seconds()
        return self

    def stop(self) -> float | None:
        busy = _busy_seconds()
        wall = time.perf_counter() - self._t
        if busy is None or self._busy is None or wall <= 0:
            return None
        other = (busy - self._busy) - (_own_seconds() - self._own)
        return max(other / wall, 0.0)


def busy_other(interval: float = 0.5) -> float | None:
    """Cores' worth of CPU that other processes use now, sampled over ``interval`` seconds."""
    if interval <= 0:
        raise ValueError(f"interval must be > 0 s, got {interval}")
    monitor = CpuMonitor().start()
    time.sleep(interval)
    return monitor.stop()


def is_quiet(busy: float | None) -> bool | None:
    """``busy`` (cores used by others) at most :data:`QUIET_CORES`; ``None`` when unknown."""
    return None if busy is None else busy <= QUIET_CORES


def conditions(threads: int | None = None, interval: float = 1.0) -> dict:
    """Everything that decides a latency figure on this machine, and how busy the machine is now."""
    busy = busy_other(interval)
    flags = cpu_flags()
    return {"cpu": cpu_model(), "cores": usable_cores(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "flags": [f for f, on in flags.items() if on], "torch": torch.__version__.split("+")[0],
            "threads": threads or torch.get_num_threads(), "quantized_engine": torch.backends.quantized.engine,
            "busy_other": busy, "quiet": is_quiet(busy)}


def conditions_line(c: dict) -> str:
    """The one ``Measurement conditions:`` line a notebook prints (see :func:`conditions`)."""
    busy = "unknown" if c["busy_other"] is None else f"{c['busy_other']:.2f} cores"
    verdict = {True: "quiet", False: "BUSY", None: "unknown"}[c["quiet"]]
    return (f"Measurement conditions: {c['cpu']}, {c['cores']} cores, {c['cpu_capability']} "
            f"[{' '.join(c['flags']) or 'no flags read'}]; torch {c['torch']}, {c['threads']} threads, "
            f"quantized engine {c['quantized_engine']}; other processes {busy}: {verdict}")


def print_conditions(threads: int | None = None, interval: float = 1.0) -> dict:
    """Print the ``Measurement conditions:`` line (and a loud warning on a busy machine); return the dict."""
    c = conditions(threads, interval)
    print(conditions_line(c))
    if c["quiet"] is False:
        print(f"WARNING: other processes used {c['busy_other']:.2f} cores (more than {QUIET_CORES}): the latencies "
              "measured now are NOT quiet measurements, and their rows are marked quiet=False. Stop the other jobs "
              "and re-run for figures worth quoting.")
    return c


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with PyTorch on ``n`` intra-op threads (``None``: unchanged), then restore."""
    before = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise ValueError(f"threads must be >= 1, got {n}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- latency
def engine_of(model) -> str:
    """The engine that runs ``model``: its ``engine`` attribute (int8, ONNX Runtime, packed kernels), else
    ``"pytorch"`` (eager fp32/bf16)."""
    return str(getattr(model, "engine", "pytorch"))


@dataclass(frozen=True)
class Latency:
    """One latency measurement: median and interquartile range in ms, and its conditions."""

    median_ms: float
    iqr_ms: float
    runs: int
    batch_size: int
    threads: int
    device: str
    engine: str
    cpu_capability: str
    busy_other: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _call(model):
    def run(x):
        with torch.inference_mode():
            return model(x)
    return run


def _time(model, x, min_run_time: float, warmup: int, n_threads: int) -> tuple[float, float, int]:
    """(median ms, IQR ms, runs). A model with a ``timing_context()`` (e.g. an int8 model that needs its
    quantized engine set) is timed inside it, so per-call set-up stays out of the measured time."""
    fn = _call(model)
    context = getattr(model, "timing_context", None)
    with context() if context is not None else contextlib.nullcontext():
        for _ in range(warmup):
            fn(x)
        timer = _benchmark().Timer(stmt="fn(x)", globals={"fn": fn, "x": x}, num_threads=n_threads)
        m = timer.blocked_autorange(min_run_time=min_run_time)
    return m.median * 1e3, m.iqr * 1e3, len(m.times)


def latency_ms(model, example_input: torch.Tensor, *, min_run_time: float = 0.3, warmup: int = 3,
               threads: int | None = None) -> Latency:
    """Latency of ``model(example_input)`` alone, with ``torch.utils.benchmark.Timer``.

    ``warmup`` untimed calls, then ``blocked_autorange(min_run_time)`` on ``threads`` intra-op threads
    (default ``torch.get_num_threads()``). ``model`` may be any callable. For figures shown in a table use
    :func:`compare_latency` or :func:`latency_table`, which interleave the models in one run.
    """
    if min_run_time <= 0:
        raise ValueError(f"min_run_time must be > 0 s, got {min_run_time}")
    if isinstance(model, nn.Module):
        model.eval()
    n = threads or torch.get_num_threads()
    monitor = CpuMonitor().start()
    with torch_threads(n):
        med, iqr, runs = _time(model, example_input, min_run_time, warmup, n)
    return Latency(med, iqr, runs, int(example_input.shape[0]), n, str(example_input.device), engine_of(model),
                   torch.backends.cpu.get_cpu_capability(), monitor.stop())


def latency_table(models: dict, example_input: torch.Tensor, *, reference: str | None = None, rounds: int = 5,
                  min_run_time: float = 0.1, warmup: int = 2, threads: int | None = None,
                  inputs: dict | None = None) -> list[dict]:
    """Time several models in one run, interleaved, at one thread count; each against ``reference``.

    Every round times each model of ``models`` (``{label: model}``) once, in order, on ``threads``
    intra-op threads for all of them (default ``torch.get_num_threads()``); compiled kernels that follow
    ``torch.get_num_threads()`` get the same count. A model's ``ms`` is the median over rounds and its
    ``speedup`` the median over rounds of ``reference time / its time`` (> 1: faster than the reference,
    which defaults to the first model). ``inputs`` gives a model its own input (``{label: x}``).
    Other processes' CPU use over the whole run is recorded as ``busy_other`` (cores), and ``quiet``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if min_run_time <= 0:
        raise ValueError(f"min_run_time must be > 0 s, got {min_run_time}")
    if not models:
        raise ValueError("models is empty: give {label: model}")
    reference = next(iter(models)) if reference is None else reference
    if reference not in models:
        raise ValueError(f"reference {reference!r} is not one of the models: {', '.join(models)}")
    inputs = inputs or {}
    n = threads or torch.get_num_threads()
    for m in models.values():
        if isinstance(m, nn.Module):
            m.eval()
    times = {label: [] for label in models}
    monitor = CpuMonitor().start()
    with torch_threads(n):
        for _ in range(rounds):
            for label, model in models.items():
                times[label].append(_time(model, inputs.get(label, example_input), min_run_time, warmup, n)[0])
    busy = monitor.stop()
    ref = times[reference]
    return [{"model": label, "ms": statistics.median(t), "speedup": statistics.median(r / c for r, c in zip(ref, t)),
             "reference": reference, "rounds": rounds, "batch_size": int(inputs.get(label, example_input).shape[0]),
             "threads": n, "engine": engine_of(models[label]), "device": str(inputs.get(label, example_input).device),
             "cpu_capability": torch.backends.cpu.get_cpu_capability(), "busy_other": busy, "quiet": is_quiet(busy)}
            for label, t in times.items()]


def compare_latency(baseline, candidate, example_input: torch.Tensor, *, rounds: int = 5,
                    min_run_time: float = 0.1, candidate_input: torch.Tensor | None = None,
                    threads: int | None = None) -> dict:
    """Time two models in one run, interleaved over ``rounds``, at the same thread count; return their ratio.

    ``speedup`` is the median over rounds of ``baseline time / candidate time`` (> 1 means the candidate
    is faster); ``baseline_ms`` and ``candidate_ms`` are each model's median over rounds. Each round times
    both models back to back, so drift of a shared machine cancels in the ratio (see :func:`latency_table`).
    """
    inputs = {"candidate": candidate_input} if candidate_input is not None else None
    base, cand = latency_table({"baseline": baseline, "candidate": candidate}, example_input, rounds=rounds,
                               min_run_time=min_run_time, threads=threads, inputs=inputs)
    return {"baseline_ms": base["ms"], "candidate_ms": cand["ms"], "speedup": cand["speedup"],
            "batch_size": cand["batch_size"], "threads": cand["threads"], "engine": cand["engine"],
            "baseline_engine": base["engine"], "device": cand["device"], "cpu_capability": cand["cpu_capability"],
            "busy_other": cand["busy_other"], "quiet": cand["quiet"], "rounds": rounds}


def latency_fields(measurement: dict, side: str = "candidate") -> dict:
    """The latency columns of a result row, from a :func:`compare_latency` result or a :func:`latency_table` row.

    ``side`` picks ``"candidate"`` or ``"baseline"`` of a comparison (ignored for a table row).
    """
    if side not in ("candidate", "baseline"):
        raise ValueError(f"side must be 'candidate' or 'baseline', got {side!r}")
    if "ms" in measurement:  # a latency_table row
        ms, engine = measurement["ms"], measurement["engine"]
    else:
        ms = measurement[f"{side}_ms"]
        engine = measurement["engine"] if side == "candidate" else measurement["baseline_engine"]
    return {"latency_ms": ms, "latency_kind": "measured", "latency_batch": measurement["batch_size"],
            "threads": measurement["threads"], "engine": engine, "device": measurement["device"],
            "busy_other": measurement["busy_other"]}


def profile(model: nn.Module, example_input: torch.Tensor, *, bits: int = 32) -> dict:
    """The size columns of a result row for ``model``: params, non-zeros, bytes of its ``state_dict``, MACs.

    Latency is not here on purpose: it is measured interleaved with what it is compared to
    (:func:`compare_latency`, :func:`latency_table`) and added with :func:`latency_fields`.
    """
    size = size_bytes(model)
    return {
        "params": count_params(model),
        "nonzero_params": count_params(model, nonzero_only=True),
        "bits": bits,
        "size_bytes": size.bytes,
        "size_kind": "file",
        "gzip_bytes": size.gzip_bytes,
        "macs": count_macs(model, example_input),
    }


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
