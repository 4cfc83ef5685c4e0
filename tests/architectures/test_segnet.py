"""Squeeze-SegNet's Fire-with-BatchNorm modules and SegNet's median frequency balancing, against hand-computed cases."""
import pytest
import torch
from torch import nn
from torchvision.models.squeezenet import Fire

from companion import measure, train
from companion.architectures import median_frequency_weights, squeeze_fire, squeeze_segnet_mini


def test_median_frequency_weights_by_hand():
    masks = torch.tensor([[[0, 0], [0, 1]], [[0, 0], [2, 2]]])
    # f0 = 5/8 (in both images), f1 = 1/4 (image 1 only), f2 = 2/4 (image 2 only); median 1/2; class 3 absent: 1
    assert median_frequency_weights(masks, 4) == (0.8, 2.0, 1.0, 1.0)
    assert median_frequency_weights(masks, 4, decimals=1) == (0.8, 2.0, 1.0, 1.0)
    w = median_frequency_weights(torch.tensor([[[0, 0, 0], [0, 0, 1]]]), 2)  # f0 = 5/6, f1 = 1/6, median (lower) 1/6
    assert w == (round(1 / 5, 4), 1.0)
    train.TrainConfig(class_weights=w)  # usable as a training config as they come


def test_median_frequency_weights_reject_bad_masks():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got 0..3"):
        median_frequency_weights(torch.tensor([[[0, 3]]]), 3)
    with pytest.raises(ValueError, match="integer label maps"):
        median_frequency_weights(torch.zeros(1, 2, 2), 3)


def test_squeeze_fire_is_torchvisions_fire_then_batchnorm():
    m = squeeze_fire(128, 64)
    assert isinstance(m[0], Fire) and isinstance(m[1], nn.BatchNorm2d)
    assert m[0].squeeze.out_channels == 16 and m[0].expand1x1.out_channels == m[0].expand3x3.out_channels == 32
    assert squeeze_fire(16, 16)[0].squeeze.out_channels == 8  # at least min_squeeze
    assert m.eval()(torch.randn(2, 128, 4, 4)).shape == (2, 64, 4, 4)
    with pytest.raises(ValueError, match="c_out must be even"):
        squeeze_fire(16, 15)


def test_squeeze_segnet_is_at_least_5x_smaller_and_keeps_the_depth():
    from companion.architectures import segnet_mini
    sq, seg = squeeze_segnet_mini(), segnet_mini()
    assert measure.count_params(seg) >= 5 * measure.count_params(sq)
    assert len(sq.encoders) == len(seg.encoders) == len(sq.decoders) == len(seg.decoders) == 4
    assert all(isinstance(e[0], Fire) for e in list(sq.encoders)[1:]) and all(isinstance(d[0], Fire) for d in sq.decoders)
