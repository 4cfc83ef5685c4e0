"""Channel shuffle: a permutation (every channel once), the documented one, undone by unshuffle; 0 MACs."""
import pytest
import torch

from companion import measure
from companion.architectures import shuffle, unshuffle


@pytest.mark.parametrize("c,g", [(12, 3), (16, 4), (64, 8), (10, 1)])
def test_shuffle_is_a_permutation_and_unshuffle_inverts_it(c, g):
    x = torch.arange(c).float().view(1, c, 1, 1).expand(2, c, 3, 3).contiguous()
    y = shuffle(x, g)
    order = y[0, :, 0, 0].long()
    assert sorted(order.tolist()) == list(range(c))                      # a permutation
    i, j = torch.meshgrid(torch.arange(g), torch.arange(c // g), indexing="ij")
    expected = torch.empty(c, dtype=torch.long)
    expected[(j * g + i).reshape(-1)] = (i * (c // g) + j).reshape(-1)  # channel i·(C/g)+j lands at j·g+i
    assert torch.equal(order, expected)
    assert torch.equal(unshuffle(y, g), x)
    z = torch.randn(2, c, 5, 4)
    assert torch.equal(unshuffle(shuffle(z, g), g), z)
    if g > 1:
        assert not torch.equal(shuffle(z, g), z)


def test_shuffle_costs_no_macs_and_rejects_bad_groups():
    assert measure.count_macs(torch.nn.Identity(), torch.zeros(1, 8, 4, 4)) == 0
    with pytest.raises(ValueError, match="groups=3 must divide channels=8"):
        shuffle(torch.zeros(1, 8, 2, 2), 3)
    with pytest.raises(ValueError, match="positive integer"):
        unshuffle(torch.zeros(1, 8, 2, 2), 0)
