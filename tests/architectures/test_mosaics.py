"""The synthetic segmentation mosaics: deterministic, no overlap, labels exact, splits never mixed, errors; the
segmentation networks' shapes and the metrics against hand-computed cases."""
import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from companion import measure
from companion.architectures import (MosaicConfig, SEG_NETS, make_mosaics, mosaic_splits,
                                     segmentation_metrics)
from companion.data import STATS, Splits

CFG = MosaicConfig(n_train=40, n_test=20, seed=3)


def fake_splits():
    """Training images of classes 0–4 only, test images of classes 5–9 only, so mixing would show in the labels."""
    g = torch.Generator().manual_seed(0)
    (mean,), (std,) = STATS["fashion-mnist"]
    def part(n, classes):
        img = (torch.randint(0, 256, (n, 1, 28, 28), generator=g).float() / 255) * (torch.rand(n, 1, 28, 28, generator=g) > 0.5)
        return TensorDataset((img - mean) / std, torch.tensor(classes)[torch.randint(0, 5, (n,), generator=g)])
    return Splits("fake", part(50, [0, 1, 2, 3, 4]), part(30, [5, 6, 7, 8, 9]), tuple(str(i) for i in range(10)))


def test_mosaics_are_deterministic_and_seed_dependent():
    s = fake_splits()
    a, ra = mosaic_splits(s, CFG)
    b, rb = mosaic_splits(s, CFG)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0]) and torch.equal(a.test.tensors[1], b.test.tensors[1])
    c, _ = mosaic_splits(s, MosaicConfig(n_train=40, n_test=20, seed=4))
    assert not torch.equal(a.train.tensors[1], c.train.tensors[1])
    assert a.input_shape == (1, 64, 64) and a.num_classes == 11 and a.train.tensors[1].shape == (40, 64, 64)


def test_items_never_overlap_and_labels_are_exactly_the_thresholded_item_pixels():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28)).astype(np.float32) / 255
    labels = rng.integers(0, 10, 30)
    out = make_mosaics(images, labels, 25, CFG, seed=1)
    for i in range(25):
        cover = np.zeros((64, 64), int)
        expected = np.zeros((64, 64), np.int64)
        for src, (top, left) in zip(out["sources"][i], out["boxes"][i]):
            if src < 0:
                continue
            cover[top:top + 28, left:left + 28] += 1
            assert np.array_equal(out["x"][i, top:top + 28, left:left + 28], images[src])
            expected[top:top + 28, left:left + 28] = np.where(images[src] > CFG.threshold, labels[src] + 1, 0)
        assert cover.max() == 1 and 2 <= (out["sources"][i] >= 0).sum() <= 3
        assert np.array_equal(out["y"][i], expected)
        assert np.array_equal(out["y"][i] > 0, out["x"][i] > CFG.threshold)  # black background: mask > 0 ⇔ pixel > τ


def test_train_and_test_mosaics_never_mix_splits():
    seg, _ = mosaic_splits(fake_splits(), CFG)
    assert set(seg.train.tensors[1].unique().tolist()) <= {0, 1, 2, 3, 4, 5}
    assert set(seg.test.tensors[1].unique().tolist()) <= {0, 6, 7, 8, 9, 10}


def test_bad_mosaic_config_raises():
    with pytest.raises(ValueError, match="too small for max_items=5"):
        MosaicConfig(canvas=64, max_items=5)
    with pytest.raises(ValueError, match="at least 28 px"):
        MosaicConfig(canvas=20)
    with pytest.raises(ValueError, match="min_items"):
        MosaicConfig(min_items=3, max_items=2)


def test_segmentation_nets_and_metrics():
    x = torch.randn(2, 1, 64, 64)
    nets = {n: b() for n, b in SEG_NETS.items()}
    for n in nets.values():
        assert n.eval()(x).shape == (2, 11, 64, 64)
    assert measure.count_params(nets["segnet_mini"]) >= 5 * measure.count_params(nets["squeeze_segnet_mini"])
    target = torch.tensor([[0, 0, 1, 1]])
    m = segmentation_metrics(torch.tensor([[0, 1, 1, 1]]), target, 3)
    assert m["pixel_accuracy"] == 0.75 and m["miou"] == pytest.approx((1 / 2 + 2 / 3) / 2)  # class 2 absent: skipped
