"""Real binary inference: ±1 tensors packed into 64-bit words, dot products by XNOR and popcount.

The public face of the packed kernels, compiled by numba on first use (a few seconds, then cached on disk):

- :mod:`~companion.binarization.packing`: ±1 values and signs into words, the weight layouts;
- :mod:`~companion.binarization.gemm`: binary linear layers (``n − 2·popcount(x XOR w)``);
- :mod:`~companion.binarization.conv`: binary convolutions on channel-packed words, zero padding exact;
- :mod:`~companion.binarization.bitcore`: the popcount, the thread count (PyTorch's, at call time) and checks.

Every kernel returns exactly the integers of the float ±1 computation; the ``*_bits`` variants return the
packed input of the next binary layer instead (batch norm and sign folded into integer thresholds).
"""
from ..formats.bits import WORD, n_words, pack_bits_lsb64, unpack_bits_lsb64  # noqa: F401  (re-exported)
from .bitcore import PARALLEL_MIN_WORDS, kernel_threads, popcount64  # noqa: F401
from .conv import binary_conv2d, conv_output_size, xnor_conv2d, xnor_conv2d_bits  # noqa: F401
from .gemm import binary_linear, xnor_linear, xnor_linear_bits  # noqa: F401
from .packing import (pack_conv_weight, pack_linear_weight, pack_linear_weight_nhwc, pack_pm1,  # noqa: F401
                      pack_signs, pack_signs_nchw, unpack_pm1)
