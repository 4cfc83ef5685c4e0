"""fp16 and bf16 inference for real: models cast to the dtype, or run under ``torch.autocast``, checked against
float32, ready for :func:`companion.measure.latency_table`.

Whether they are faster depends on the CPU's instructions: AVX512-BF16 and AMX-BF16 run bf16 dot products
natively, AVX512-FP16 and AMX-FP16 fp16; without them PyTorch converts to float32 (or takes a slow reference
path) and low precision is *slower*. So speed is measured and recorded, never assumed, and every output is
compared with float32 first (pytorch/pytorch#163347: a wrong bf16 convolution on one AMD system).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

MODES = ("fp32", "bf16", "autocast-bf16", "fp16", "autocast-fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Autocast(nn.Module):
    """``model`` under ``torch.autocast(device, dtype)``: convolutions and matrix products in ``dtype``, the
    other operations (ReLU, pooling, batch norm, losses) in the dtype that reaches them; float32 in and out."""

    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model, dtype

    def forward(self, x):
        with torch.autocast(x.device.type, dtype=self.dtype):
            return self.model(x).float()


def variant(model: nn.Module, mode: str) -> tuple[nn.Module, torch.dtype]:
    """The model for ``mode`` (one of :data:`MODES`) and the dtype its input must have.

    ``"bf16"``/``"fp16"``: a copy with every parameter and buffer cast (weights and activations in the dtype);
    ``"autocast-*"``: the float32 model under :class:`Autocast`; ``"fp32"``: the model itself.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    model = model.eval()
    if mode == "fp32":
        return model, torch.float32
    dtype = _DTYPES[mode.split("-")[-1]]
    if mode.startswith("autocast"):
        return Autocast(model, dtype).eval(), torch.float32
    return copy.deepcopy(model).to(dtype).eval(), dtype


def variants(model: nn.Module, x: torch.Tensor, modes=MODES) -> tuple[dict, dict]:
    """``({mode: model}, {mode: input})`` for :func:`companion.measure.latency_table` (``models``, ``inputs``):
    each variant gets ``x`` in its own dtype, so that the timed call is the model alone."""
    models, inputs = {}, {}
    for mode in modes:
        models[mode], dtype = variant(model, mode)
        inputs[mode] = x.to(dtype)
    return models, inputs


@torch.inference_mode()
def output_errors(models: dict, inputs: dict, reference: str = "fp32") -> dict[str, dict]:
    """Each variant's output against the reference's: ``max_rel_error`` = max|y − y_ref| / max|y_ref|, and
    ``argmax_agreement`` (fraction of rows with the same top class; 1.0 for outputs that are not logits)."""
    ref = models[reference](inputs[reference]).float()
    out = {}
    for label, model in models.items():
        y = model(inputs[label]).float()
        err = ((y - ref).abs().max() / ref.abs().max().clamp(min=1e-30)).item()
        agree = (y.argmax(1) == ref.argmax(1)).float().mean().item() if ref.dim() == 2 else 1.0
        out[label] = {"max_rel_error": err, "argmax_agreement": agree}
    return out


def conv_layer(channels: int = 64, kernel: int = 3, seed: int = 0) -> nn.Conv2d:
    """The microbenchmark's convolution, ``channels`` → ``channels``, ``kernel`` × ``kernel``, padding to keep
    the size; weights seeded inside ``fork_rng`` (the global RNG is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Conv2d(channels, channels, kernel, padding=kernel // 2).eval()


def channels_last(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """A copy of ``model`` and ``x`` in the NHWC memory layout (``torch.channels_last``), which oneDNN prefers."""
    return copy.deepcopy(model).to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)


def measure_modes(subjects: dict, batches, modes=MODES, *, rounds: int = 5, min_run_time: float = 0.05,
                  threads: int | None = None) -> tuple[list[dict], list[dict]]:
    """For every ``{name: (model, inputs)}`` and batch size: the outputs of each mode against float32, and one
    interleaved :func:`companion.measure.latency_table` of all modes (float32 the reference).

    Returns ``(errors, latencies)``: rows ``{subject, batch, mode, max_rel_error, argmax_agreement}`` and the
    latency-table rows with ``subject`` and ``mode`` added.
    """
    from ..measure import latency_table

    errors, latencies = [], []
    for name, (model, x) in subjects.items():
        for b in batches:
            models, inputs = variants(model, x[:b], modes)
            for mode, e in output_errors(models, inputs).items():
                errors.append({"subject": name, "batch": b, "mode": mode, **e})
            table = latency_table(models, x[:b], reference="fp32", rounds=rounds, min_run_time=min_run_time,
                                  warmup=3, threads=threads, inputs=inputs)
            latencies += [{"subject": name, "mode": row["model"], **row} for row in table]
    return errors, latencies


# What each dtype can expect, by the first flag present (None: none of them).
EXPECTATIONS = {
    "bf16": [("amx_bf16", "AMX-BF16 (and AVX512-BF16): oneDNN can run bf16 convolutions and matmuls on AMX tiles, "
                          "up to 16× fp32's peak rate"),
             ("avx512_bf16", "AVX512-BF16, no AMX: bf16 dot products at about 2× fp32's rate"),
             (None, "neither AVX512-BF16 nor AMX-BF16: bf16 is converted to float32 or takes a slow path, expect a slow-down")],
    "fp16": [("amx_fp16", "AMX-FP16: fp16 matmuls on AMX tiles"),
             ("avx512_fp16", "AVX512-FP16, no AMX-FP16: native fp16 arithmetic exists, at most about 2× fp32's rate "
                             "where PyTorch's kernels use it"),
             (None, "neither AVX512-FP16 nor AMX-FP16: fp16 is converted to float32, expect a slow-down")],
}


def expectations(flags: dict) -> str:
    """What this CPU's flags (``companion.measure.cpu_flags()``) lead one to expect of bf16 and fp16, as Markdown."""
    lines = [f"- **{dtype}**: {next(text for flag, text in rules if flag is None or flags.get(flag))}."
             for dtype, rules in EXPECTATIONS.items()]
    return "\n".join(lines + ["- Whatever the flags, a gain needs a large operation (the batch-128 convolutions); small "
                               "layers at batch 1 are bound by per-call overhead, where the dtype changes little or only "
                               "adds conversions."])
