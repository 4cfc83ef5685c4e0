"""Binarization (survey §2.6): binarizers and straight-through estimators, binarized layers and the section's network,
packed XNOR-popcount kernels (numba), and the packed model and its file."""
from . import binarize, kernels, layers, packed
from .binarize import (CLIPPED, METHODS, MODES, BinarizeConfig, SignSTE, binarize_weight, filter_scale, hard_sigmoid,
                       input_scale, sign, ste_sign, stochastic_sign, straight_through, ternarize, ternary_threshold)
from .kernels import (binary_conv2d, binary_linear, conv_output_size, pack_conv_weight, pack_linear_weight, pack_pm1,
                      pack_signs, pack_signs_nchw, popcount64, unpack_pm1, xnor_conv2d, xnor_linear)
from .layers import BinaryConv2d, BinaryLinear, BinaryNet, binary_layers, clip_latent_weights_, mac_split, train_binary
from .packed import (PackedLayer, float_twin, load_packed, packed_layers, record_calls, save_arrays, save_packed,
                     size_report, stage_latency, to_packed)

__all__ = [
    'binarize', 'layers', 'kernels', 'packed', 'BinarizeConfig', 'CLIPPED', 'METHODS', 'MODES', 'SignSTE',
    'binarize_weight', 'filter_scale', 'hard_sigmoid', 'input_scale', 'sign', 'ste_sign', 'stochastic_sign',
    'straight_through', 'ternarize', 'ternary_threshold', 'BinaryConv2d', 'BinaryLinear', 'BinaryNet',
    'binary_layers', 'clip_latent_weights_', 'mac_split', 'train_binary', 'binary_conv2d', 'binary_linear',
    'conv_output_size', 'pack_conv_weight', 'pack_linear_weight', 'pack_pm1', 'pack_signs', 'pack_signs_nchw',
    'popcount64', 'unpack_pm1', 'xnor_conv2d', 'xnor_linear', 'PackedLayer', 'float_twin', 'load_packed',
    'packed_layers', 'record_calls', 'save_arrays', 'save_packed', 'size_report', 'stage_latency', 'to_packed',
]
