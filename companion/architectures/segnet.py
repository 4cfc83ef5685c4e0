"""SegNet-mini and Squeeze-SegNet-mini: encoder–decoders that upsample with the encoder's stored pooling indices,
and the segmentation metrics (pixel accuracy, mIoU).

SegNet (Badrinarayanan et al. 2017): each encoder stage convolves then max-pools keeping the argmax indices; the
decoder ``MaxUnpool2d``s with them and convolves. Squeeze-SegNet (Nanfack et al. 2017) keeps the plan and swaps
the convolutions for Fire modules in the encoder and *squeeze-decoder* modules in the decoder (here: the same
squeeze 1×1 → expand 1×1 + 3×3 after unpooling, torchvision's ``Fire``, each followed by BatchNorm), and ends with a
1×1 classifier. Trained with SegNet's median frequency balancing of the cross-entropy (:func:`median_frequency_weights`):
unweighted, the background's ~79 % of the pixels drowns the garments' classes.
Both here have the same depth: four stages, four poolings to 1/16 (a 4×4 bottleneck on 64×64 canvases, whose
cells see a whole garment), four unpoolings.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import conv_bn_relu, fire


class IndexSegNet(nn.Module):
    """``encoders[i]`` then pool (indices kept) for each stage; for each decoder, unpool with the matching indices
    then ``decoders[i]``; then ``head``. Input (N, C, H, W) with H, W divisible by 2^stages; output (N, classes, H, W)."""

    def __init__(self, encoders: list[nn.Module], decoders: list[nn.Module], head: nn.Module):
        super().__init__()
        if len(encoders) != len(decoders):
            raise ValueError(f"need as many decoders as encoders, got {len(encoders)} and {len(decoders)}")
        self.encoders, self.decoders, self.head = nn.ModuleList(encoders), nn.ModuleList(decoders), head
        self.pool, self.unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)

    def forward(self, x):
        indices = []
        for enc in self.encoders:
            x, idx = self.pool(enc(x))
            indices.append(idx)
        for dec, idx in zip(self.decoders, reversed(indices)):
            x = dec(self.unpool(x, idx))
        return self.head(x)


def segnet_mini(input_shape=(1, 64, 64), num_classes: int = 11, widths=(16, 32, 64, 128)) -> IndexSegNet:
    """SegNet-mini: a 3×3 conv block per stage (widths 16-32-64-128), each followed by index-keeping max-pooling;
    the mirrored decoder unpools and applies a 3×3 conv block (128→64→32→16); 3×3 classifier."""
    w = (input_shape[0],) + tuple(widths)
    encoders = [conv_bn_relu(w[i], w[i + 1]) for i in range(len(widths))]
    decoders = [conv_bn_relu(w[i + 1], w[i]) for i in range(len(widths) - 1, 0, -1)] + [nn.Identity()]
    return IndexSegNet(encoders, decoders, nn.Conv2d(w[1], num_classes, 3, padding=1))


def squeeze_fire(c_in: int, c_out: int, min_squeeze: int = 8) -> nn.Sequential:
    """A Fire module (torchvision's ``Fire``: squeeze 1×1 to max(wider of c_in, c_out / 8, ``min_squeeze``) → expand 1×1 and 3×3 to
    c_out/2 each, concatenated) followed by ``BatchNorm2d``. SegNet normalises after every convolution and torchvision's
    Fire has no normalisation; without it, and with 2- or 4-channel squeezes, the stacked Fire modules barely trained
    in our budget (mIoU 0.10 after 8 epochs against 0.42 with it)."""
    if c_out % 2:
        raise ValueError(f"c_out must be even (two expand halves), got {c_out}")
    return nn.Sequential(fire(c_in, max(max(c_in, c_out) // 8, min_squeeze), c_out // 2, c_out // 2), nn.BatchNorm2d(c_out))


def squeeze_segnet_mini(input_shape=(1, 64, 64), num_classes: int = 11, widths=(16, 32, 64, 128)) -> IndexSegNet:
    """Squeeze-SegNet-mini: a 3×3 stem, then Fire encoders (:func:`squeeze_fire` to each width); after each unpooling a
    squeeze-decoder (the same Fire module, to the previous width; the last keeps 16 channels, filling the unpooled
    zeros that a 1×1 classifier could not); 1×1 classifier. Same stages as :func:`segnet_mini`."""
    w = tuple(widths)
    encoders = [conv_bn_relu(input_shape[0], w[0])] + [squeeze_fire(w[i - 1], w[i]) for i in range(1, len(w))]
    decoders = [squeeze_fire(w[i], w[i - 1]) for i in range(len(w) - 1, 0, -1)] + [squeeze_fire(w[0], w[0])]
    return IndexSegNet(encoders, decoders, nn.Conv2d(w[0], num_classes, 1))


SEG_NETS = {"segnet_mini": segnet_mini, "squeeze_segnet_mini": squeeze_segnet_mini}


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(classes, classes) counts, rows = target, columns = prediction, over all pixels."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    k = target.reshape(-1) * num_classes + pred.reshape(-1)
    return torch.bincount(k, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def segmentation_metrics(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> dict:
    """Pixel accuracy, per-class IoU = TP / (TP + FP + FN), and mIoU over the classes present in target or
    prediction (a class absent from both is skipped, not counted as 0 or 1)."""
    cm = confusion(pred, target, num_classes).double()
    tp = cm.diag()
    union = cm.sum(0) + cm.sum(1) - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    return {"pixel_accuracy": (tp.sum() / cm.sum()).item(), "miou": iou[union > 0].mean().item(), "iou": iou.tolist()}


@torch.no_grad()
def predict_masks(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Argmax class per pixel, (N, H, W) int64."""
    model.eval()
    return torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def median_frequency_weights(masks: torch.Tensor, num_classes: int, decimals: int = 4) -> tuple[float, ...]:
    """Median frequency balancing (Eigen & Fergus 2015, as SegNet trains on CamVid): w_c = median_c(f_c) / f_c, with
    f_c = pixels of class c / pixels of the images in which c appears. ``masks`` (N, H, W) of labels in
    [0, num_classes). A class absent from every mask gets weight 1 (it adds no term to the loss anyway); weights are
    rounded to ``decimals`` so that they can key a training cache."""
    if masks.dim() < 2 or masks.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise ValueError(f"masks must be integer label maps (N, H, W), got {masks.dtype} of shape {tuple(masks.shape)}")
    if masks.numel() and (masks.min() < 0 or masks.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got {int(masks.min())}..{int(masks.max())}")
    flat = masks.reshape(len(masks), -1).long()
    counts = torch.zeros(len(masks), num_classes, dtype=torch.float64).scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float64))
    present = counts.sum(0) > 0
    if not present.any():
        raise ValueError("no pixels in masks")
    freq = counts.sum(0) / ((counts > 0) * flat.shape[1]).sum(0).clamp(min=1)
    weights = torch.ones(num_classes, dtype=torch.float64)
    weights[present] = freq[present].median() / freq[present]
    return tuple(round(float(w), decimals) for w in weights)


def majority_baseline(train_y: torch.Tensor, test_y: torch.Tensor, num_classes: int) -> dict:
    """The metrics of predicting the training set's most frequent pixel class everywhere."""
    majority = int(torch.bincount(train_y.reshape(-1), minlength=num_classes).argmax())
    return {"class": majority, **segmentation_metrics(torch.full_like(test_y, majority), test_y, num_classes)}
