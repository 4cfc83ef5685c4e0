"""Quantization (survey §2.4): affine quantizers and calibration, fake-quantized models (PTQ, QAT), weight sharing
(k-means, product quantization), real int8 engines, and Deep Compression's pipeline and file."""
from . import affine, deep_compression, fake_quant, int8, requant, viz, weight_sharing
from .affine import (CALIBRATIONS, MSE_GRID, QuantConfig, check_bits, affine_qparams, calibrate_range, fake_quantize,
                     fake_quantize_tensor, fused_fake_quantize, qparams, quantization_mse, quantize)
from .deep_compression import (CODINGS, MAGIC, VERSION, DeepCompressionConfig, decode_shared, encode_shared,
                               load_compressed, prune_retrain_, read_compressed, save_compressed, share_retrain_,
                               stage_files)
from .fake_quant import ActFakeQuant, WeightFakeQuant, calibrate_, fake_quantize_model, fold_batchnorm, layer_input
from .int8 import (ENGINES, INT8_CPU_FLAGS, ORT, TORCH_ENGINES, EngineModel, OrtModel, available_engines, check_engine,
                   convert, cpu_flags, export_onnx, quantize_fx, quantize_onnx, quantized_engine, quiet,
                   save_model)
from .requant import (IntegerLinear, fixed_point_multiplier, from_quantized_linear, input_qparams,
                      integer_linear, rounding_shift)
from .viz import grid_values, plot_grid
from .weight_sharing import (KMEANS_INITS, SharedWeight, kmeans, load_shared, pq_reconstruct, product_quantize,
                             product_quantize_model_, save_pq, save_shared, share_model_weights_, share_weights,
                             shared_state_dict)

__all__ = [
    'affine', 'fake_quant', 'viz', 'weight_sharing', 'int8', 'deep_compression', 'CALIBRATIONS', 'MSE_GRID',
    'QuantConfig', 'affine_qparams', 'calibrate_range', 'fake_quantize', 'fake_quantize_tensor',
    'fused_fake_quantize', 'qparams', 'quantization_mse', 'quantize', 'ActFakeQuant', 'WeightFakeQuant',
    'calibrate_', 'fake_quantize_model', 'fold_batchnorm', 'layer_input', 'grid_values', 'plot_grid',
    'KMEANS_INITS', 'SharedWeight', 'kmeans', 'pq_reconstruct', 'product_quantize', 'product_quantize_model_',
    'save_pq', 'share_model_weights_', 'share_weights', 'load_shared', 'save_shared', 'shared_state_dict', 'ENGINES', 'EngineModel', 'INT8_CPU_FLAGS', 'ORT',
    'OrtModel', 'TORCH_ENGINES', 'available_engines', 'check_engine', 'convert', 'cpu_flags', 'export_onnx',
    'quantize_fx', 'quantize_onnx', 'quantized_engine', 'quiet', 'save_model', 'CODINGS',
    'DeepCompressionConfig', 'MAGIC', 'VERSION', 'decode_shared', 'encode_shared', 'load_compressed',
    'requant', 'IntegerLinear', 'fixed_point_multiplier', 'from_quantized_linear', 'input_qparams',
    'integer_linear', 'rounding_shift', 'check_bits', 'prune_retrain_', 'read_compressed', 'save_compressed', 'share_retrain_', 'stage_files',
]
