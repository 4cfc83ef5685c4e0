import numpy as np
import pytest
import torch

from companion.nas.hardware import (block_latency_matrix, lut_keys, lut_modules, mnas_reward, predict_latency)


def test_lut_covers_every_module_of_every_architecture(space):
    entries = lut_modules(space)
    assert len(entries) == 1 + 8 + 16 + 16 + 2
    for i in range(0, space.size, 37):
        keys = lut_keys(space, space.decode(i))
        assert all(k in entries for k in keys) and len(keys) == space.blocks + 2
    for key, (module, x) in entries.items():   # each entry's input is what the block sees inside a network
        assert module(x).ndim in (2, 4), key


def test_lut_inputs_match_the_shapes_inside_the_network(space):
    arch = space.parse("mbconv3x3@1/conv5x5@0.5/dwsep3x3@1")
    net, entries = space.build(arch).eval(), lut_modules(space)
    x = torch.zeros(1, 1, 28, 28)
    shapes = [x.shape]
    x = net.stem(x)
    for block in net.blocks:
        shapes.append(x.shape)
        x = block(x)
    shapes.append(x.shape)
    assert [tuple(entries[k][1].shape) for k in lut_keys(space, arch)] == [tuple(s) for s in shapes]


def test_prediction_is_the_sum_of_entries(space):
    lut = {"ms": {k: 1.0 for k in lut_modules(space)}}
    assert predict_latency(space, space.decode(5), lut) == 5.0
    m = block_latency_matrix(space, lut)
    assert m.shape == (3, 4) and (m == 1).all()
    with pytest.raises(ValueError, match="width must be one of"):
        block_latency_matrix(space, lut, width=0.75)


def test_mnas_reward_by_hand():
    assert mnas_reward(0.8, 10.0, 10.0) == pytest.approx(0.8)
    assert mnas_reward(0.8, 20.0, 10.0) == pytest.approx(0.8 * 2 ** -0.07)
    assert mnas_reward(0.8, 5.0, 10.0) == pytest.approx(0.8 * 0.5 ** -0.07)        # faster than the target: a bonus
    assert mnas_reward(0.8, 5.0, 10.0, alpha=0.0, beta=-1.0) == pytest.approx(0.8)   # hard constraint
    assert mnas_reward(0.8, 20.0, 10.0, alpha=0.0, beta=-1.0) == pytest.approx(0.4)
    out = mnas_reward(np.array([0.8, 0.8]), np.array([5.0, 20.0]), 10.0)
    assert out.shape == (2,) and out[0] > out[1]
    with pytest.raises(ValueError, match="target latency must be > 0"):
        mnas_reward(0.8, 1.0, 0.0)
