"""torchvision's efficient models at full scale, with random weights, and the ImageNet figures it ships offline.

``torchvision.models.get_model_weights(name).DEFAULT.meta`` holds, without any download, the ImageNet-1K top-1
(``_metrics``), the GFLOPS (``_ops``, which are in fact GMACs: torchvision counts a multiply-add once) and
the parameter count of the published checkpoint. We build the same architecture with ``weights=None``, count
its params and MACs here (``measure.torchvision_check``) and time it; accuracy can only be quoted.
"""
from __future__ import annotations

from torch import nn

from .. import measure

ZOO = ("squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "shufflenet_v2_x0_5",
       "shufflenet_v2_x1_0", "mnasnet1_0", "efficientnet_b0", "resnet18")
"""The zoo of the notebook: the survey's efficient families and ResNet-18 as the reference."""
PUBLISHED_ROUNDING = 0.0005e9
"""torchvision prints ``_ops`` with 3 decimals of GFLOPS: a published MAC count is exact only to ±0.5 M."""


def _check(name: str) -> None:
    from torchvision.models import list_models

    if name not in list_models():
        raise ValueError(f"unknown torchvision model {name!r}; the notebook's zoo: {', '.join(ZOO)}")


def zoo_metadata(name: str) -> dict:
    """The published ImageNet figures of torchvision's default weights for ``name`` (read offline from the enum)."""
    from torchvision.models import get_model_weights

    _check(name)
    weights = get_model_weights(name).DEFAULT
    meta = weights.meta
    return {"model": name, "weights": str(weights), "top1": meta["_metrics"]["ImageNet-1K"]["acc@1"] / 100,
            "published_params": int(meta["num_params"]), "published_macs": float(meta["_ops"]) * 1e9,
            "resolution": int(weights.transforms().crop_size[0])}


def zoo_model(name: str) -> nn.Module:
    """The architecture ``name`` with random weights (``weights=None``: nothing is downloaded), in eval mode."""
    from torchvision.models import get_model

    _check(name)
    return get_model(name, weights=None).eval()


def zoo_counts(name: str, resolution: int = 224) -> dict:
    """Our params and MACs of ``name`` at ``resolution`` beside torchvision's published figures and top-1.

    ``params_error`` and ``macs_error`` are relative (ours / published − 1); the published MACs are for the
    model's own evaluation resolution, so compare them only at that resolution. ``macs_tolerance`` is 1 %, or
    the rounding of the published figure where that is larger (shufflenet_v2_x0_5's 0.04 GFLOPS is ±1.25 %).
    """
    if not isinstance(resolution, int) or resolution < 32:
        raise ValueError(f"resolution must be an integer >= 32 pixels, got {resolution!r}")
    meta = zoo_metadata(name)
    check = measure.torchvision_check(name, resolution)
    return {**meta, "resolution": resolution, "params": check["params"], "macs": check["macs"],
            "params_error": check["params"] / meta["published_params"] - 1,
            "macs_error": check["macs"] / meta["published_macs"] - 1,
            "macs_tolerance": max(0.01, PUBLISHED_ROUNDING / meta["published_macs"])}
