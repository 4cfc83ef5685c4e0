"""Reduction of numerical precision (survey §2.5): number formats with round-to-nearest and seeded stochastic
rounding, real low-precision files, SGD with low-precision weights and no fp32 master copy, loss scaling,
and the real speed of fp16/bf16 on the CPU."""
from .formats import (FORMATS, ROUNDINGS, FixedPoint, MiniFloat, Scaled, bf16_stochastic_round, dynamic_fixed_point,
                      fixed_point_quantize, get_format, minifloat_quantize, round_nearest, round_stochastic,
                      scale_exponent, static_fixed_point)

__all__ = ["FORMATS", "ROUNDINGS", "FixedPoint", "MiniFloat", "Scaled", "bf16_stochastic_round", "dynamic_fixed_point",
           "fixed_point_quantize", "get_format", "minifloat_quantize", "round_nearest", "round_stochastic",
           "scale_exponent", "static_fixed_point"]
