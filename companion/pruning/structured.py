"""Structured pruning: remove whole filters (or neurons) by their L1 norm, physically.

Li, Kadav, Durdanovic, Samet & Graf 2017 (*Pruning Filters for Efficient ConvNets*): rank the
filters of a convolution by ``‖F_j‖₁ = Σ |w_j,c,u,v|`` and remove the smallest, together with the
matching input channels of the next layer. The result is a smaller *dense* network: it needs no
sparse library, so fewer MACs turn directly into (some) speed. The physical surgery, which must
follow every layer that consumes the removed channels (the next conv, a flatten, the first fully
connected layer), is done by torch-pruning's dependency graph (Fang et al. 2023).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..compat import import_quietly
from .masks import prunable_layers, score_mask


@dataclass(frozen=True)
class FilterPruneConfig:
    """Remove ``ratio`` of the filters (Conv2d) or neurons (Linear) of each of ``layers``.

    ``layers=None`` means every ``nn.Conv2d`` (Li et al. prune convolutions only). Naming a
    layer whose outputs are the model's outputs is an error: the output shape must not change.
    """

    ratio: float = 0.5
    layers: tuple[str, ...] | None = None

    def __post_init__(self):
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"ratio must be in [0, 1), got {self.ratio}")
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(self.layers))


def l1_filter_norms(weight: torch.Tensor) -> torch.Tensor:
    """``‖F_j‖₁``: the L1 norm of each output filter (row) of a conv (out, in, kh, kw) or linear (out, in) weight."""
    return weight.detach().abs().flatten(1).sum(1)


def filters_to_remove(weight: torch.Tensor, ratio: float) -> list[int]:
    """Indices of the ``round(ratio · out)`` filters with the smallest L1 norm (ties: lower index first)."""
    keep = score_mask(l1_filter_norms(weight), ratio)
    return torch.nonzero(~keep).flatten().tolist()


def _torch_pruning():
    """torch-pruning, imported without its 'No CUDA runtime is found' warning on CPU-only machines."""
    return import_quietly("torch_pruning")


def _out_members(graph, group, names: dict) -> list[tuple[str, nn.Module]]:
    """The prunable layers of a dependency group that lose output channels (filters), by name."""
    out = []
    for dep, _ in group:
        m = dep.target.module
        if isinstance(m, (nn.Conv2d, nn.Linear)) and graph.is_out_channel_pruning_fn(dep.handler) and m in names:
            out.append((names[m], m))
    return out


def group_filter_norms(members) -> torch.Tensor:
    """The score of each coupled channel of a group: the sum of its filters' L1 norms over the group's layers.

    Channels tied by a residual sum or a depthwise convolution are removed together, so they are ranked
    together (the group-level L1 criterion of torch-pruning's ``GroupMagnitudeImportance``, Fang et al. 2023).
    """
    norms = [l1_filter_norms(m.weight) for _, m in members]
    if len({len(n) for n in norms}) != 1:
        raise ValueError(f"coupled layers {[n for n, _ in members]} have different channel counts "
                         f"{[len(n) for n in norms]}; this group cannot be ranked filter by filter")
    return torch.stack(norms).sum(0)


def prune_filters(model: nn.Module, config: FilterPruneConfig, example_input: torch.Tensor) -> tuple[nn.Module, dict]:
    """A copy of ``model`` with the L1-smallest filters physically removed, group by group.

    torch-pruning's dependency graph (Fang et al. 2023) finds the *groups* of coupled channels: a conv and
    the next conv's inputs, but also every conv whose outputs meet in a residual sum, and a depthwise conv
    with the layer feeding it. Each group containing one of ``config.layers`` (all ``nn.Conv2d`` by
    default) loses the ``round(ratio · channels)`` channels of smallest :func:`group_filter_norms`, all
    chosen from the original weights (Li et al.'s "independent" strategy), then cut in every coupled
    layer. Returns ``(pruned_model, {layer: removed filter indices})`` for every layer that lost filters.
    ``example_input`` traces the dependencies.
    """
    tp = _torch_pruning()
    pruned = copy.deepcopy(model).eval()
    names = config.layers
    if names is None:
        names = tuple(n for n, m in prunable_layers(pruned).items() if isinstance(m, nn.Conv2d))
    selected = set(prunable_layers(pruned, names).values())
    module_names = {m: n for n, m in prunable_layers(pruned).items()}
    with torch.no_grad():
        out_shape = pruned(example_input).shape
    graph = tp.DependencyGraph().build_dependency(pruned, example_inputs=example_input)
    plans = []  # (root layer, its pruning function, channels to remove): all chosen before any surgery
    for group in graph.get_all_groups(root_module_types=(nn.Conv2d, nn.Linear)):
        members = _out_members(graph, group, module_names)
        if members and any(m in selected for _, m in members):
            idxs = torch.nonzero(~score_mask(group_filter_norms(members), config.ratio)).flatten().tolist()
            plans.append((group[0].dep.target.module, group[0].dep.handler, idxs))
    removed = {}
    for root, fn, idxs in plans:
        if not idxs:
            continue
        group = graph.get_pruning_group(root, fn, idxs=idxs)
        for dep, member_idxs in group:
            m = dep.target.module
            if m in module_names and graph.is_out_channel_pruning_fn(dep.handler):
                removed[module_names[m]] = sorted(int(i) for i in member_idxs)
        group.prune()
    with torch.no_grad():
        new_shape = pruned(example_input).shape
    if new_shape != out_shape:
        raise ValueError(f"pruning {list(names)} changed the output shape {tuple(out_shape)} → {tuple(new_shape)}; "
                         "do not prune the layer that produces the model's outputs")
    return pruned, removed


def channel_counts(model: nn.Module) -> dict[str, int]:
    """Output channels (Conv2d) or features (Linear) of every prunable layer: what a pruned model kept."""
    return {n: (m.out_channels if isinstance(m, nn.Conv2d) else m.out_features)
            for n, m in prunable_layers(model).items()}
