"""Hashing (survey §2.2): HashedNets' seeded weight sharing (``hash``, ``layers``), the protocol's equal-storage
baselines (``models``), the persistent-index trap (``trap``), FreshNets' frequency-domain hashing (``fresh``),
FunHashNN's multi-hash reconstruction (``funhash``) and LSH selection of active neurons (``lsh``)."""
from .hash import bucket_index, chi_square, fmix32, hash32, index_and_sign, sign_hash
from .layers import (MODES, HashedConv2d, HashedLinear, HashedWeight, bucket_sum_multiplications, buckets_for,
                     hashed_layers, runtime_bytes,
                     set_mode, stored_floats)
from .models import (KINDS, MLP, MaskedLinear, build, compact_rer, equal_hidden, hashed_budget, hashed_mlp,
                     inflation_compression,
                     low_rank_linear, stored_params)
from .trap import persistent_index_trap
from .experiments import file_bytes, score, stored_file_bytes, train_lenet5, train_lsh, train_mlp
from .fresh import FreshConv2d, HashedLeNet5, band_budgets, dct2, dct_matrix, high_frequency_energy, idct2
from .funhash import FunHashLinear, Reconstruction
from .lsh import (SELECTIONS, GatherLSH, LSHMLP, active_fraction, calibrate_tables, multiplications, simhash_codes,
                  top_count_mask)

__all__ = [
    "bucket_index", "chi_square", "fmix32", "hash32", "index_and_sign", "sign_hash",
    "MODES", "HashedConv2d", "HashedLinear", "HashedWeight", "bucket_sum_multiplications", "buckets_for", "hashed_layers", "runtime_bytes",
    "set_mode", "stored_floats",
    "KINDS", "MLP", "MaskedLinear", "inflation_compression", "build", "compact_rer", "equal_hidden", "hashed_budget", "hashed_mlp",
    "low_rank_linear", "stored_params", "persistent_index_trap",
    "FreshConv2d", "HashedLeNet5", "band_budgets", "dct2", "dct_matrix", "high_frequency_energy", "idct2",
    "FunHashLinear", "Reconstruction",
    "SELECTIONS", "GatherLSH", "LSHMLP", "active_fraction", "calibrate_tables", "multiplications", "simhash_codes",
    "top_count_mask",
]
