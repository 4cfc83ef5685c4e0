"""Efficient architectures (survey §3.1): the blocks at matched channels with their closed-form counts
(``blocks``, ``shuffle``; side by side in ``registry``), mini networks for 28×28 inputs (``minis``), MACs against
measured time (``timing``), torchvision's zoo with its offline ImageNet metadata (``zoo``), and Squeeze-SegNet
against SegNet-mini on synthetic Fashion-MNIST mosaics (``mosaics``, ``segnet``)."""
from .blocks import (Counts, conv_bn_relu, depthwise_separable, depthwise_separable_counts, fire, fire_counts,
                     inverted_residual, inverted_residual_counts, standard_block, standard_counts, two_3x3,
                     two_3x3_counts)
from .shuffle import ShuffleUnit, check_groups, shuffle, shuffle_unit_counts, unshuffle
from .registry import BLOCKS, block_counts, make_block
from .minis import MINI_NETS, MiniNet, Resize, build_mini, builder, resized, scaled
from .timing import LAYOUTS, REFERENCE, SHUFFLE_ALONE, TimingConfig, in_layout, shuffle_share, time_blocks
from .mosaics import GENERATOR_VERSION, MosaicConfig, cells_per_side, make_mosaics, mosaic_splits, to_unit
from .segnet import (SEG_NETS, IndexSegNet, confusion, majority_baseline, median_frequency_weights, predict_masks,
                     segmentation_metrics, segnet_mini, squeeze_fire, squeeze_segnet_mini)
from .zoo import PUBLISHED_ROUNDING, ZOO, zoo_counts, zoo_metadata, zoo_model

__all__ = [
    "Counts", "conv_bn_relu", "depthwise_separable", "depthwise_separable_counts", "fire", "fire_counts",
    "inverted_residual", "inverted_residual_counts", "standard_block", "standard_counts", "two_3x3", "two_3x3_counts",
    "ShuffleUnit", "check_groups", "shuffle", "shuffle_unit_counts", "unshuffle",
    "BLOCKS", "block_counts", "make_block",
    "MINI_NETS", "MiniNet", "Resize", "build_mini", "builder", "resized", "scaled",
    "LAYOUTS", "REFERENCE", "SHUFFLE_ALONE", "TimingConfig", "in_layout", "shuffle_share", "time_blocks",
    "GENERATOR_VERSION", "MosaicConfig", "cells_per_side", "make_mosaics", "mosaic_splits", "to_unit",
    "SEG_NETS", "IndexSegNet", "confusion", "majority_baseline", "median_frequency_weights", "predict_masks",
    "segmentation_metrics", "segnet_mini", "squeeze_fire", "squeeze_segnet_mini",
    "PUBLISHED_ROUNDING", "ZOO", "zoo_counts", "zoo_metadata", "zoo_model",
]
