"""Pruning (survey §2.3): masks and criteria, Optimal Brain Damage, the pruner and its schedules, prune-and-retrain,
lottery tickets, structured (filter) pruning, and the sparse file format and kernels."""
from . import finetune, lottery, masks, obd, pruner, sparse, structured
from .finetune import SCHEDULES, cycle_epochs, gradual_config, layer_sensitivity, prune_and_finetune
from .lottery import LotteryConfig, lottery_ticket
from .masks import CRITERIA, PRUNABLE, SCOPES, global_masks, magnitude_mask, prunable_layers, score_mask, sparsity_of
from .obd import gauss_newton_diagonal, obd_saliency
from .pruner import GradualConfig, PruneConfig, Pruner, polynomial_sparsity, prune_, with_masks
from .sparse import MAGIC, VERSION, SparseLinear, load_sparse, save_sparse, to_sparse_linear
from .structured import (FilterPruneConfig, channel_counts, filters_to_remove, group_filter_norms, l1_filter_norms,
                         prune_filters)

__all__ = [
    'masks', 'obd', 'pruner', 'finetune', 'lottery', 'structured', 'sparse', 'CRITERIA', 'PRUNABLE', 'SCOPES',
    'global_masks', 'magnitude_mask', 'prunable_layers', 'score_mask', 'sparsity_of', 'gauss_newton_diagonal',
    'obd_saliency', 'GradualConfig', 'PruneConfig', 'Pruner', 'polynomial_sparsity', 'prune_', 'with_masks',
    'SCHEDULES', 'cycle_epochs', 'gradual_config', 'layer_sensitivity', 'prune_and_finetune', 'LotteryConfig', 'lottery_ticket', 'FilterPruneConfig',
    'channel_counts', 'filters_to_remove', 'group_filter_norms', 'l1_filter_norms', 'prune_filters', 'MAGIC', 'SparseLinear', 'VERSION',
    'load_sparse', 'save_sparse', 'to_sparse_linear',
]
