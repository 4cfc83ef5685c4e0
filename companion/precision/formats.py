"""Number formats as quantizers: fixed point, dynamic fixed point, minifloats (fp8, fp6, fp4), fp16 and bf16.

Each format maps a tensor to values of its grid, returned in the input's float dtype (a *simulation*:
the values are exact members of the format, stored in float32; :mod:`companion.precision.storage` writes
the real codes). Two roundings, as in Gupta et al. (2015):

- ``"nearest"`` (RN): the nearest grid value, ties to even (IEEE 754's default, and what ``torch`` casts do);
- ``"stochastic"`` (SR): one of the two neighbours ``⌊x⌋``, ``⌊x⌋ + 1`` (in units of the LSB), chosen with
  ``P(up) = x − ⌊x⌋``, so that ``E[SR(x)] = x``. The draws come from an explicit, seeded ``torch.Generator``
  (never the global RNG). qtorch (Zhang et al. 2019) offers the same quantizers but compiles C++ at
  import and cannot seed its float SR on the CPU; these are pure torch.

Values beyond the largest finite value saturate to it (no inf), the convention of fp8 training recipes.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

ROUNDINGS = ("nearest", "stochastic")
SPECIALS = ("ieee", "fn", "finite")  # inf and NaN reserved / only NaN reserved (mantissa all ones) / all finite


def _is_integer(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_rounding(rounding: str, generator) -> None:
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if rounding == "stochastic" and not isinstance(generator, torch.Generator):
        raise ValueError("stochastic rounding needs an explicit torch.Generator (e.g. "
                         "torch.Generator().manual_seed(0)); the global RNG is never used")


@dataclass(frozen=True)
class FixedPoint:
    """Two's complement fixed point ⟨wl, fl⟩ (Gupta et al. 2015): ``x = m · 2^-fl``, ``m`` an integer in
    ``[-2^(wl-1), 2^(wl-1) - 1]``; ``wl`` bits in all, ``fl`` of them after the binary point (``fl < 0``:
    a grid coarser than the integers)."""

    wl: int
    fl: int

    def __post_init__(self):
        if not _is_integer(self.wl) or not 2 <= self.wl <= 32:
            raise ValueError(f"word length wl must be an integer in [2, 32] (a sign bit and at least one more), got {self.wl!r}")
        if not _is_integer(self.fl) or self.fl > self.wl:
            raise ValueError(f"fractional length fl must be an integer <= the word length wl={self.wl}, got {self.fl!r}")
        object.__setattr__(self, "wl", int(self.wl))  # NumPy integers (from pandas) become plain ints
        object.__setattr__(self, "fl", int(self.fl))

    @property
    def bits(self) -> int:
        return self.wl

    @property
    def name(self) -> str:
        return f"fixed<{self.wl},{self.fl}>"

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.fl

    @property
    def max_value(self) -> float:
        return (2 ** (self.wl - 1) - 1) * self.lsb

    def lsb_of(self, x: torch.Tensor) -> torch.Tensor:
        """The grid spacing at each element of ``x`` (constant for fixed point)."""
        return torch.full_like(x, self.lsb)

    def quantize(self, x: torch.Tensor, rounding: str = "nearest", generator=None) -> torch.Tensor:
        _check_rounding(rounding, generator)
        return fixed_point_quantize(x, self.wl, self.fl, rounding, generator)


@dataclass(frozen=True)
class MiniFloat:
    """A binary floating-point format with ``exp_bits`` exponent and ``man_bits`` stored mantissa bits.

    ``x = ±2^(e - bias) · 1.m`` (normal) or ``±2^(1 - bias) · 0.m`` (subnormal); ``bias = 2^(exp_bits-1) - 1``
    by default. ``special``: ``"ieee"`` reserves the top exponent for inf/NaN (fp16, bf16, e5m2, ml_dtypes'
    e4m3 and e3m4), ``"fn"`` reserves only the all-ones code for NaN (e4m3fn: max 448), ``"finite"`` has no
    special values (the OCP fp6 e2m3/e3m2 and fp4 e2m1). ``torch_dtype`` / ``numpy_dtype`` name the real
    dtype of the format where torch or ``ml_dtypes`` has one (``"float8_e4m3fn"``).
    """

    exp_bits: int
    man_bits: int
    special: str = "ieee"
    bias: int | None = None
    label: str | None = None
    torch_dtype: str | None = None
    numpy_dtype: str | None = None

    def __post_init__(self):
        if not 1 <= self.exp_bits <= 8 or not 0 <= self.man_bits <= 23:
            raise ValueError(f"exp_bits must be in [1, 8] and man_bits in [0, 23], got {self.exp_bits}, {self.man_bits}")
        if self.special not in SPECIALS:
            raise ValueError(f"special must be one of {SPECIALS}, got {self.special!r}")

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def name(self) -> str:
        return self.label or f"e{self.exp_bits}m{self.man_bits}"

    @property
    def exp_bias(self) -> int:
        return 2 ** (self.exp_bits - 1) - 1 if self.bias is None else self.bias

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number (subnormals share it)."""
        return 1 - self.exp_bias

    @property
    def emax(self) -> int:
        return 2 ** self.exp_bits - (2 if self.special == "ieee" else 1) - self.exp_bias

    @property
    def max_value(self) -> float:
        top = 2 - 2.0 ** (1 - self.man_bits) if self.special == "fn" else 2 - 2.0 ** -self.man_bits
        return math.ldexp(top, self.emax)

    @property
    def min_subnormal(self) -> float:
        return math.ldexp(1.0, self.emin - self.man_bits)

    def lsb_of(self, x: torch.Tensor) -> torch.Tensor:
        """The spacing of the grid at each element of ``x``: ``2^(max(⌊log2|x|⌋, emin) − man_bits)``."""
        return minifloat_lsb(x, self.man_bits, self.emin).to(x.dtype)

    def quantize(self, x: torch.Tensor, rounding: str = "nearest", generator=None) -> torch.Tensor:
        _check_rounding(rounding, generator)
        if rounding == "nearest" and self.torch_dtype is not None:  # the real cast (RNE), after saturation
            dtype = getattr(torch, self.torch_dtype)
            return x.clamp(-self.max_value, self.max_value).to(dtype).to(x.dtype)
        if rounding == "stochastic" and self.torch_dtype == "bfloat16" and x.dtype == torch.float32:
            return bf16_stochastic_round(x, generator).clamp(-self.max_value, self.max_value)
        return minifloat_quantize(x, self.man_bits, self.emin, self.max_value, rounding, generator)


@dataclass(frozen=True)
class Scaled:
    """A format with a power-of-two scale: ``Q(x) = 2^s · inner(x · 2^-s)``.

    By default ``s`` is chosen per tensor, ``s = ⌈log2(max|x| / inner.max_value)⌉``, the smallest exponent that
    fits the tensor's largest value, so each tensor uses the grid's full range. Around fixed point ⟨wl, wl−1⟩
    this is Courbariaux et al.'s **dynamic fixed point** (2014); around a minifloat it is per-tensor scaled
    fp8/fp4 as in current fp8 inference recipes. ``shared_exponent`` fixes ``s`` for every tensor instead:
    around ⟨wl, wl−1⟩ that is plain (static) fixed point ⟨wl, wl−1−s⟩ for the whole network.
    """

    inner: FixedPoint | MiniFloat
    shared_exponent: int | None = None
    label: str | None = None

    def __post_init__(self):
        if not isinstance(self.inner, (FixedPoint, MiniFloat)):
            raise ValueError(f"inner must be a FixedPoint or MiniFloat, got {self.inner!r}")
        if self.shared_exponent is not None and not _is_integer(self.shared_exponent):
            raise ValueError(f"shared_exponent must be an integer or None (per tensor), got {self.shared_exponent!r}")

    @property
    def bits(self) -> int:
        return self.inner.bits

    @property
    def name(self) -> str:
        return self.label or f"{self.inner.name}-scaled"

    def exponent(self, x: torch.Tensor) -> int:
        """The scale exponent ``s`` of ``x``: ``shared_exponent``, else the tensor's own (0 if all zero)."""
        return self.shared_exponent if self.shared_exponent is not None else scale_exponent(x, self.inner.max_value)

    def lsb_of(self, x: torch.Tensor) -> torch.Tensor:
        s = self.exponent(x)
        return self.inner.lsb_of(x * 2.0 ** -s) * 2.0 ** s

    def quantize(self, x: torch.Tensor, rounding: str = "nearest", generator=None) -> torch.Tensor:
        s = self.exponent(x)
        return self.inner.quantize(x * 2.0 ** -s, rounding, generator) * 2.0 ** s


def dynamic_fixed_point(wl: int) -> Scaled:
    """Dynamic fixed point of word length ``wl`` (Courbariaux et al. 2014): ⟨wl, wl−1⟩ scaled per tensor."""
    return Scaled(FixedPoint(wl, wl - 1), label=f"dfp<{wl}>")


def static_fixed_point(tensors, wl: int) -> Scaled:
    """One fixed-point format ⟨wl, fl⟩ for all of ``tensors`` (static fixed point), ``fl`` fitted to the largest
    |value| among them: ⟨wl, wl−1⟩ with one shared exponent ``s`` (``fl = wl − 1 − s``; ``fl`` may exceed ``wl``
    when every value is below 1/2)."""
    biggest = max((t.detach().abs().max().item() for t in tensors if t.numel()), default=0.0)
    inner = FixedPoint(wl, wl - 1)
    s = scale_exponent(torch.tensor(biggest), inner.max_value)
    return Scaled(inner, shared_exponent=s, label=f"fixed<{wl},{wl - 1 - s}>")


def fixed_point_mantissas(values: torch.Tensor, fmt) -> tuple[torch.Tensor, int]:
    """Integer mantissas ``m`` (int64) and the exponent ``e`` with ``values = m · 2^e``, for values on the grid of
    ``fmt`` (a :class:`FixedPoint`, ``e = −fl``, or a :class:`Scaled` fixed point, ``e = s − fl``)."""
    inner = fmt.inner if isinstance(fmt, Scaled) else fmt
    if not isinstance(inner, FixedPoint):
        raise ValueError(f"{fmt.name} is not a fixed-point format")
    e = (fmt.exponent(values) if isinstance(fmt, Scaled) else 0) - inner.fl
    return (values * 2.0 ** -e).to(torch.int64), e  # exact: the values are multiples of 2^e


# ---------------------------------------------------------------- the pure tensor functions
def round_nearest(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer, ties to even (``torch.round``: 0.5 → 0, 1.5 → 2, −2.5 → −2)."""
    return torch.round(x)


def round_stochastic(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Round to ``⌊x⌋ + 1`` with probability ``x − ⌊x⌋``, else ``⌊x⌋``: unbiased, ``E[SR(x)] = x``.

    One uniform draw ``u`` per element from ``generator``; ``u < frac`` (rather than ``⌊x + u⌋``) keeps the
    full resolution of ``u`` when ``|x|`` is large. Shape and dtype of ``x``.
    """
    low = torch.floor(x)
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return low + (u < x - low).to(x.dtype)


def round_to_integer(x: torch.Tensor, rounding: str, generator=None) -> torch.Tensor:
    """:func:`round_nearest` or :func:`round_stochastic`, by name."""
    return round_nearest(x) if rounding == "nearest" else round_stochastic(x, generator)


def fixed_point_quantize(x: torch.Tensor, wl: int, fl: int, rounding: str = "nearest", generator=None) -> torch.Tensor:
    """``clamp(round(x · 2^fl), −2^(wl−1), 2^(wl−1) − 1) · 2^-fl``: ⟨wl, fl⟩ fixed point, saturating.

    Multiplying by a power of two is exact in binary floating point, so the only error is the rounding.
    """
    mantissa = round_to_integer(x * 2.0 ** fl, rounding, generator)
    return mantissa.clamp(-2 ** (wl - 1), 2 ** (wl - 1) - 1) * 2.0 ** -fl


def minifloat_lsb(x: torch.Tensor, man_bits: int, emin: int) -> torch.Tensor:
    """The LSB of a float format with ``man_bits`` mantissa bits at each element of ``x``:
    ``2^k`` with ``k = max(⌊log2|x|⌋, emin) − man_bits`` (``emin``: exponent of the smallest normal; below, subnormals).

    float32 inputs read ``⌊log2|x|⌋`` from the exponent bits and build ``2^k`` from bits (a normal float32, or a
    subnormal one down to 2^-149 for bf16's and fp32's own LSBs): exact, and no ``frexp``/``exp2``. Other dtypes
    go through float64.
    """
    if x.dtype == torch.float32 and emin - man_bits >= -149:
        field = ((x.view(torch.int32) >> 23) & 255).clamp_(min=emin + 127)  # biased exponent; 0, subnormals: emin
        field -= man_bits  # the biased exponent of the LSB
        if emin - man_bits >= -126 or bool(field.min() >= 1):  # every LSB is a normal float32
            return field.bitwise_left_shift_(23).view(torch.float32)
        return torch.where(field >= 1, field << 23, 1 << (field + 22).clamp(min=0)).view(torch.float32)
    exponent = (torch.frexp(x.double())[1] - 1).clamp(min=emin).masked_fill(x == 0, emin)
    return torch.exp2((exponent - man_bits).double())


def minifloat_quantize(x: torch.Tensor, man_bits: int, emin: int, max_value: float, rounding: str = "nearest",
                       generator=None) -> torch.Tensor:
    """A float with ``man_bits`` mantissa bits and smallest normal exponent ``emin``, saturating at ``max_value``:
    ``clamp(round(x / lsb) · lsb, ±max_value)`` with each value's own LSB (:func:`minifloat_lsb`).

    Dividing by a power of two is exact, so the only error is the rounding; subnormals come out of the floor
    on the exponent. A value that rounds up into the next binade lands on its first value, which is on the grid.
    """
    lsb = minifloat_lsb(x, man_bits, emin)
    q = round_to_integer(x.to(lsb.dtype) / lsb, rounding, generator) * lsb
    return q.clamp(-max_value, max_value).to(x.dtype)


def bf16_stochastic_round(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Stochastic rounding of float32 to bfloat16 by its bits: add a uniform 16-bit integer to the low half of
    the float32 pattern, then truncate it (the ``copy_stochastic_`` trick of pytorch/pytorch#120376, and
    torchao's bf16 optimizers). A carry into the upper half happens with probability ``frac``: unbiased.
    Returns float32 values that are exactly bfloat16."""
    bits = x.contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, x.shape, generator=generator, dtype=torch.int32, device=x.device)
    return ((bits + noise) & -65536).view(torch.float32)


def scale_exponent(x: torch.Tensor, max_value: float) -> int:
    """The smallest integer ``s`` with ``max|x| · 2^-s <= max_value`` (0 for an all-zero tensor)."""
    biggest = x.detach().abs().max().item() if x.numel() else 0.0
    if biggest == 0.0 or not math.isfinite(biggest):
        return 0
    s = math.ceil(math.log2(biggest / max_value))
    while biggest * 2.0 ** -s > max_value:  # guard against log2's last-bit rounding
        s += 1
    while biggest * 2.0 ** -(s - 1) <= max_value:
        s -= 1
    return s
