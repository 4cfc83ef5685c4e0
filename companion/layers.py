"""Finding the layers a technique applies to: one helper for pruning, sharing, quantization and binarization."""
from __future__ import annotations

from torch import nn

WEIGHTED = (nn.Linear, nn.Conv2d)


def find_layers(model: nn.Module, types: tuple[type, ...] = WEIGHTED, names=None,
                kind: str | None = None) -> dict[str, nn.Module]:
    """The sub-modules of ``model`` that are instances of ``types``, by qualified name, in model order.

    ``names`` (an iterable of qualified names) keeps only those; a name that is not such a layer is an
    error listing the valid ones, calling them ``kind`` layers (default: the type names).
    """
    found = {n: m for n, m in model.named_modules() if isinstance(m, types)}
    if names is None:
        return found
    names = list(names)
    unknown = [n for n in names if n not in found]
    if unknown:
        kind = kind or "/".join(t.__name__ for t in types)
        raise ValueError(f"no {kind} layer {unknown} in {type(model).__name__}; "
                         f"{kind} layers: {', '.join(found) or '(none)'}")
    return {n: found[n] for n in names}
