"""Batch norm + sign folded into integer thresholds: the same bits as the float batch norm, for every integer."""
import pytest
import torch

from companion.binarization import apply_thresholds, sign_thresholds
from companion.binarization.fold import bn_outputs, thresholds_from_signs


def _bn(kind, channels, seed=0):
    g = torch.Generator().manual_seed(seed)
    bn = kind(channels).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.rand(channels, generator=g) * 60 - 30)
        bn.running_var.copy_(torch.rand(channels, generator=g) * 400 + 1)
        bn.weight.copy_(torch.rand(channels, generator=g) * 3 - 1.5)
        bn.bias.copy_(torch.rand(channels, generator=g) * 2 - 1)
        bn.weight[:3] = torch.tensor([0.0, 0.0, -1.0])  # constant sign both ways, and a flipped channel
        bn.bias[:3] = torch.tensor([-0.5, 0.25, 0.0])
    return bn


def test_thresholds_by_hand():
    # rows z = -2 … 2; columns: negative below 0, never, from 0 on (flipped), always
    negative = torch.tensor([[1, 0, 0, 1], [1, 0, 0, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]]).bool()
    threshold, flip = thresholds_from_signs(negative, 2)
    assert threshold.tolist() == [0, -2, 0, 3] and flip.tolist() == [False, False, True, False]
    z = torch.arange(-2, 3).view(-1, 1).float()
    assert torch.equal(apply_thresholds(z, threshold, flip), negative)
    with pytest.raises(ValueError, match="channel 0 changes 2 times"):
        thresholds_from_signs(torch.tensor([[1], [0], [1]]).bool(), 1)


@pytest.mark.parametrize("kind,fan_in,shape", [(torch.nn.BatchNorm2d, 576, (16, 64, 7, 7)),
                                               (torch.nn.BatchNorm1d, 3136, (400, 64))])
def test_folded_thresholds_equal_the_float_batch_norm_sign(kind, fan_in, shape):
    bn = _bn(kind, shape[1])
    threshold, flip = sign_thresholds(bn, fan_in)
    assert threshold.dtype == torch.int64 and flip.dtype == torch.bool
    assert threshold[0] == fan_in + 1 and threshold[1] == -fan_in and flip[2] and not flip[0]  # always, never
    # every integer z, through the batch norm as it runs in the model: the same sign bits
    z_all = torch.arange(-fan_in, fan_in + 1).float()
    assert torch.equal(bn_outputs(bn, fan_in) < 0, apply_thresholds(z_all.view(-1, 1), threshold, flip))
    g = torch.Generator().manual_seed(1)
    for _ in range(5):  # and random integers at every position of a real-shaped input
        z = torch.randint(-fan_in, fan_in + 1, shape, generator=g).float()
        assert torch.equal(bn(z) < 0, apply_thresholds(z, threshold, flip))


def test_fold_rejects_bad_input():
    with pytest.raises(TypeError, match="BatchNorm1d or BatchNorm2d"):
        sign_thresholds(torch.nn.LayerNorm(4), 10)
    with pytest.raises(ValueError, match="fan_in must be >= 1"):
        sign_thresholds(torch.nn.BatchNorm1d(4), 0)
    bn = torch.nn.BatchNorm1d(4)
    sign_thresholds(bn, 5)
    assert bn.training, "the batch norm's mode is restored"
