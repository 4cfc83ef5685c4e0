"""HashedLinear / HashedConv2d: the virtual weight, the three modes, gradients of shared weights, the file."""
import io

import pytest
import torch
from torch import nn

from companion.hashing import (MODES, HashedConv2d, HashedLinear, buckets_for, hashed_mlp, persistent_index_trap,
                               runtime_bytes, set_mode, stored_floats)


def test_virtual_weight_is_signed_lookup_of_real_weights():
    layer = HashedLinear(20, 7, 11, seed=3, layer=2)
    h, xi = layer.hashed.tables()
    v = layer.weight
    for i, j in [(0, 0), (3, 5), (6, 19)]:
        assert v[i, j] == xi[i, j] * layer.hashed.weight[h[i, j]]
    assert layer.bias.shape == (7,) and layer.hashed.weight.numel() == 11


def test_three_modes_give_identical_outputs_and_decompress_invalidates():
    torch.manual_seed(0)
    net = hashed_mlp(1 / 8, (30, 20), in_features=50).eval()
    x = torch.randn(5, 50)
    outs = {}
    for mode in MODES:
        set_mode(net, mode)
        with torch.no_grad():
            outs[mode] = net(x)
    assert torch.equal(outs["decompress"], outs["gather"]) and torch.equal(outs["gather"], outs["rehash"])
    set_mode(net, "decompress")
    with torch.no_grad():
        before = net(x)
        net.layers[0].hashed.weight.add_(1.0)  # an in-place change bumps the version: the cache must be rebuilt
        after = net(x)
    set_mode(net, "rehash")
    with torch.no_grad():
        assert not torch.equal(before, after) and torch.equal(after, net(x))


def test_gradient_of_a_shared_weight_is_the_sum_of_its_virtual_gradients():
    torch.manual_seed(1)
    layer = HashedLinear(16, 9, 13, seed=5)
    x = torch.randn(4, 16)
    layer(x).pow(2).sum().backward()
    # reference: autograd on the materialised matrix as an independent leaf, then map by hand
    v = layer.hashed.materialise().detach().requires_grad_(True)
    torch.nn.functional.linear(x, v, layer.bias.detach()).pow(2).sum().backward()
    h, xi = layer.hashed.tables()
    expected = torch.zeros(13)
    for i in range(9):
        for j in range(16):
            expected[h[i, j]] += xi[i, j] * v.grad[i, j]
    assert torch.allclose(layer.hashed.weight.grad, expected, atol=1e-5)


def test_training_mode_decompress_gets_fresh_graph():
    layer = HashedLinear(8, 4, 5, mode="decompress")
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    x = torch.randn(3, 8)
    for _ in range(2):  # a cached graph would fail on the second backward
        opt.zero_grad()
        layer(x).sum().backward()
        opt.step()
    assert layer.hashed.weight.grad is not None


def test_file_holds_only_real_weights_and_the_key():
    net = hashed_mlp(1 / 64)
    k = sum(m.hashed.buckets for m in net.layers)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    floats = stored_floats(net)
    assert floats == k + 300 + 100 + 10
    assert len(buf.getvalue()) <= 4 * floats + 4096  # container overhead of torch.save
    assert not any(name.endswith(("index", "sign")) for name in net.state_dict())


def test_loading_rebuilds_tables_from_the_key():
    a, b = hashed_mlp(1 / 8, (10,), in_features=12, seed=1), hashed_mlp(1 / 8, (10,), in_features=12, seed=2)
    b.load_state_dict(a.state_dict())  # b now has a's key: its tables must follow
    x = torch.randn(2, 12)
    assert torch.equal(a(x), b(x))


def test_persistent_index_trap_doubles_the_dense_file():
    sizes = persistent_index_trap(784, 300, 1 / 64)
    assert sizes["hashed"] <= 4 * (sizes["K"] + sizes["bias"]) + 4096
    assert sizes["hashed, persistent index"] > 1.9 * sizes["dense"]


def test_gather_keeps_more_memory_than_dense_and_rehash_none():
    layer = HashedLinear(100, 50, compression=0.1)
    assert runtime_bytes(layer) == 100 * 50 * (8 + 4)  # int64 index + float32 sign per virtual weight
    layer.hashed.mode = "rehash"
    assert runtime_bytes(layer) == 0


def test_hashed_conv_matches_conv_with_materialised_kernel():
    conv = HashedConv2d(3, 4, 3, compression=0.25, padding=1, seed=2)
    x = torch.randn(2, 3, 8, 8)
    ref = nn.functional.conv2d(x, conv.hashed.materialise(), conv.bias, padding=1)
    assert torch.equal(conv(x), ref) and conv.hashed.buckets == 27


@pytest.mark.parametrize("compression", [0, -0.1, 1.5, True])
def test_bad_compression_raises(compression):
    with pytest.raises(ValueError, match="compression"):
        buckets_for(100, compression)
    with pytest.raises(ValueError, match="compression"):
        HashedLinear(10, 10, compression=compression)


def test_bad_buckets_mode_and_shapes_raise():
    with pytest.raises(ValueError, match="K"):
        HashedLinear(10, 10, 0)
    with pytest.raises(ValueError, match="exactly one"):
        HashedLinear(10, 10)
    with pytest.raises(ValueError, match="mode"):
        HashedLinear(10, 10, 5, mode="fast")
    with pytest.raises(ValueError, match="10 features"):
        HashedLinear(10, 10, 5)(torch.randn(2, 11))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        HashedConv2d(3, 4, 3, 5)(torch.randn(2, 2, 8, 8))


def test_weights_saved_under_another_hash_version_refuse_to_load():
    a = HashedLinear(12, 10, 7)
    state = a.state_dict()
    state["hashed.key"] = state["hashed.key"].clone()
    state["hashed.key"][2] += 1
    with pytest.raises(ValueError, match="hash version"):
        HashedLinear(12, 10, 7).load_state_dict(state)
