"""Reduction of numerical precision (survey §2.5): number formats with round-to-nearest and seeded stochastic
rounding (``formats``; the named ones in ``registry``), real low-precision files (``storage``), formats at inference (``inference``), the
exactness of fixed-point simulation (``simulation``), SGD with low-precision weights and no float32 master copy
(``training``), loss scaling (``loss_scaling``) and fp16/bf16 inference for real (``speed``)."""
from .formats import (ROUNDINGS, FixedPoint, MiniFloat, Scaled, bf16_stochastic_round, dynamic_fixed_point,
                      fixed_point_mantissas, fixed_point_quantize, minifloat_lsb, minifloat_quantize, round_nearest,
                      round_stochastic, scale_exponent, static_fixed_point)
from .registry import FORMATS, get_format, numpy_dtype, reference_casts
from .inference import FAMILIES, evaluate_format, floating_tensors, model_formats, tensor_ranges
from .loss_scaling import cast_counts, gradients, loss_scale_table, max_safe_scale
from .simulation import integer_matmul, matmul_exactness
from .speed import MODES, Autocast, channels_last, conv_layer, output_errors, variant, variants
from .storage import load_state_dict, pack_codes, quantize_state_dict, save_model, unpack_codes
from .training import LowPrecisionConfig, LowPrecisionSGD, init_model, train_low_precision, update_histogram

__all__ = [
    "FORMATS", "ROUNDINGS", "FixedPoint", "MiniFloat", "Scaled", "bf16_stochastic_round", "dynamic_fixed_point",
    "fixed_point_mantissas", "fixed_point_quantize", "get_format", "minifloat_lsb", "minifloat_quantize",
    "round_nearest", "round_stochastic", "scale_exponent", "static_fixed_point",
    "numpy_dtype", "reference_casts",
    "FAMILIES", "evaluate_format", "floating_tensors", "model_formats", "tensor_ranges",
    "cast_counts", "gradients", "loss_scale_table", "max_safe_scale",
    "integer_matmul", "matmul_exactness",
    "MODES", "Autocast", "channels_last", "conv_layer", "output_errors", "variant", "variants",
    "load_state_dict", "pack_codes", "quantize_state_dict", "save_model", "unpack_codes",
    "LowPrecisionConfig", "LowPrecisionSGD", "init_model", "train_low_precision", "update_histogram",
]
