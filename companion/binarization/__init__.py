"""Binarization (survey §2.6): binarizers and straight-through estimators, binarized layers and the section's network,
packed XNOR-popcount kernels (numba), batch norm + sign folded into thresholds, the packed models and their files."""
from . import binarize, bitcore, conv, fold, gemm, kernels, layers, network, packed, packing, report
from .binarize import (CLIPPED, METHODS, MODES, BinarizeConfig, SignSTE, binarize_weight, filter_scale, hard_sigmoid,
                       input_scale, sign, ste_sign, stochastic_sign, straight_through, ternarize, ternary_threshold)
from .fold import apply_thresholds, sign_thresholds
from .kernels import (binary_conv2d, binary_linear, conv_output_size, pack_conv_weight, pack_linear_weight,
                      pack_linear_weight_nhwc, pack_pm1, pack_signs, pack_signs_nchw, popcount64, unpack_pm1,
                      xnor_conv2d, xnor_conv2d_bits, xnor_linear, xnor_linear_bits)
from .layers import BinaryConv2d, BinaryLinear, BinaryNet, binary_layers, clip_latent_weights_, mac_split, train_binary
from .network import BinaryConvBlock, BinaryLinearBlock, PackedBNN
from .packed import (PackedLayer, count_weights, load_packed, packed_layers, save_arrays, save_packed, state_bytes,
                     to_packed)
from .report import float_twin, record_calls, size_report, time_breakdown

__all__ = [
    'binarize', 'bitcore', 'conv', 'fold', 'gemm', 'kernels', 'layers', 'network', 'packed', 'packing', 'report',
    'BinarizeConfig', 'CLIPPED', 'METHODS', 'MODES', 'SignSTE', 'binarize_weight', 'filter_scale', 'hard_sigmoid',
    'input_scale', 'sign', 'ste_sign', 'stochastic_sign', 'straight_through', 'ternarize', 'ternary_threshold',
    'apply_thresholds', 'sign_thresholds', 'binary_conv2d', 'binary_linear', 'conv_output_size', 'pack_conv_weight',
    'pack_linear_weight', 'pack_linear_weight_nhwc', 'pack_pm1', 'pack_signs', 'pack_signs_nchw', 'popcount64',
    'unpack_pm1', 'xnor_conv2d', 'xnor_conv2d_bits', 'xnor_linear', 'xnor_linear_bits', 'BinaryConv2d',
    'BinaryLinear', 'BinaryNet', 'binary_layers', 'clip_latent_weights_', 'mac_split', 'train_binary',
    'BinaryConvBlock', 'BinaryLinearBlock', 'PackedBNN', 'PackedLayer', 'count_weights', 'load_packed',
    'packed_layers', 'save_arrays', 'save_packed', 'state_bytes', 'to_packed', 'float_twin', 'record_calls',
    'size_report', 'time_breakdown',
]
