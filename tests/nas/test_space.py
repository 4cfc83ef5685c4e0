import numpy as np
import pytest
import torch

from companion.measure import count_macs
from companion.nas import OPS, SearchSpace, make_op
from companion.nas.space import check_arch, decode, encode, mutate, neighbours, sample


def test_every_architecture_encodes_and_decodes_uniquely(space):
    archs = space.all()
    assert len(archs) == space.size == 512 == len(set(archs))
    assert [space.encode(a) for a in archs] == list(range(space.size))
    names = [space.name(a) for a in archs]
    assert len(set(names)) == space.size
    assert all(space.parse(n) == a for n, a in zip(names, archs))


def test_mixed_radix_by_hand():
    assert encode((1, 0, 2), (2, 3, 4)) == 1 * 12 + 0 * 4 + 2 == 14
    assert decode(14, (2, 3, 4)) == (1, 0, 2)
    assert decode(23, (2, 3, 4)) == (1, 2, 3)


def test_networks_build_run_and_stay_under_8M_macs(space):
    x = torch.zeros(2, 1, 28, 28)
    for i in (0, 137, 300, space.size - 1):
        net = space.build(space.decode(i))
        assert net(x).shape == (2, 10)
    worst = space.parse("conv5x5@1/conv5x5@1/conv5x5@1")
    assert count_macs(space.build(worst), x[:1]) <= 8_000_000


def test_layers_chain_channels(space):
    layers = space.layers(space.parse("conv3x3@0.5/mbconv3x3@1/dwsep3x3@0.5"))
    assert layers == [("conv3x3", 8, 8, 2), ("mbconv3x3", 8, 32, 2), ("dwsep3x3", 32, 32, 1)]


def test_neighbours_and_mutation_stay_in_space_and_differ_in_one_decision(space):
    rng = np.random.default_rng(0)
    cards = space.cardinalities
    arch = space.decode(200)
    nbrs = neighbours(arch, cards)
    assert len(nbrs) == sum(c - 1 for c in cards) == 12 and len(set(nbrs)) == 12
    for n in nbrs + [mutate(arch, cards, rng) for _ in range(200)]:
        check_arch(n, cards)
        assert sum(a != b for a, b in zip(arch, n)) == 1
    assert len({sample(cards, rng) for _ in range(3000)}) > 450


def test_bad_input_raises_clear_errors(space):
    with pytest.raises(ValueError, match="unknown operation 'conv7x7'"):
        make_op("conv7x7", 8, 8, 1)
    with pytest.raises(ValueError, match="unknown operation 'conv7x7'"):
        space.parse("conv7x7@1/conv3x3@1/conv3x3@1")
    with pytest.raises(ValueError, match="width '0.7'"):
        space.parse("conv3x3@0.7/conv3x3@1/conv3x3@1")
    with pytest.raises(ValueError, match="names 2 blocks"):
        space.parse("conv3x3@1/conv3x3@1")
    with pytest.raises(ValueError, match="not in the space"):
        space.encode((4, 0, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="not in the space"):
        space.build((0, 0, 0))
    with pytest.raises(ValueError, match="index must be in"):
        space.decode(512)
    with pytest.raises(ValueError, match="ops must be distinct names"):
        SearchSpace(ops=("conv3x3", "maxpool"))
    with pytest.raises(ValueError, match="one entry per block"):
        SearchSpace(channels=(16, 32), strides=(1, 2, 2))
    assert set(OPS) == {"conv3x3", "conv5x5", "dwsep3x3", "mbconv3x3"}
