"""The compiled middle of the packed BNN: exact logits serial and parallel, PyTorch's batch-norm arithmetic
reproduced (or the module path kept), its stages, and bad input."""
import numpy as np
import pytest
import torch
from torch import nn

from companion.binarization import PackedBNN, fused, network
from companion.binarization.fused import affine_terms, bn_arithmetic


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 5, 33])
def test_the_compiled_middle_gives_the_float_models_logits_exactly(trained_like, threads, batch):
    model = trained_like("bnn")
    packed = PackedBNN(model)
    assert packed.fused
    x = torch.randn(batch, 1, 28, 28)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        words = packed.fused_operands(packed.conv1_hw)[1]
        assert packed.parallel_middle(batch, words) == (threads > 1 and batch * words >= 1 << 17 and batch > 1)
        with torch.no_grad():
            assert torch.equal(packed(x), model(x))
            h = model.act(model.bn3(model.fc3(torch.flatten(model.act(model.bn2(model.conv2(model.block1(x)))), 1))))
            assert torch.equal(packed.middle(packed.conv1_output(x)), h)  # fc4's input, bit for bit
    finally:
        torch.set_num_threads(before)


def test_a_batch_that_runs_in_parallel_is_exact(trained_like):
    model = trained_like("bnn")
    packed = PackedBNN(model)
    x = torch.randn(40, 1, 28, 28)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert packed.parallel_middle(40, packed.fused_operands(packed.conv1_hw)[1])
        with torch.no_grad():
            assert torch.equal(packed(x), model(x))
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bn", [nn.BatchNorm1d(37), nn.BatchNorm2d(37)])
def test_bn_arithmetic_reproduces_pytorchs_batch_norm_bit_for_bit(bn):
    torch.manual_seed(3)
    bn.train()
    with torch.no_grad():
        bn.running_mean.uniform_(-3, 3)
        bn.running_var.uniform_(0.01, 20)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    probe = torch.randn(16, 37, *(() if isinstance(bn, nn.BatchNorm1d) else (9, 9))) * 5
    found = bn_arithmetic(bn, probe)
    assert found is not None and bn.training  # found, and the batch norm's mode restored
    alpha, beta, fma_y = found
    x = probe.numpy().reshape(16, 37, -1)
    assert np.array_equal(fused._affine(x, alpha, beta, fma_y), bn.eval()(probe).detach().numpy().reshape(16, 37, -1))
    other = fused._affine(x, alpha, beta, not fma_y)  # the other rounding does differ somewhere: the probe can tell
    assert not np.array_equal(other, bn(probe).detach().numpy().reshape(16, 37, -1))


def test_an_arithmetic_it_cannot_reproduce_gives_none_and_the_module_path(trained_like, monkeypatch):
    class Shifted(nn.BatchNorm1d):  # a batch norm that is not x·α + β in float32
        def forward(self, x):
            return super().forward(x) + 1e-3
    bn = Shifted(8).eval()
    assert bn_arithmetic(bn, torch.randn(4, 8)) is None
    model = trained_like("bnn")
    monkeypatch.setattr(network, "bn_arithmetic", lambda bn, probe: None)
    packed = PackedBNN(model)
    assert not packed.fused
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(packed(x), model(x))
    with pytest.raises(RuntimeError, match="not reproduced"):
        packed.middle(packed.conv1_output(x))


def test_the_cached_operands_follow_load_state_dict(trained_like):
    model = trained_like("bnn")
    packed = PackedBNN(model)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        packed(x)  # fills the cache
        model.bn3.bias.add_(0.7)
        model.bn1.running_mean.sub_(0.4)
        other = PackedBNN(model)
        packed.load_state_dict(other.state_dict())
        assert torch.equal(packed(x), model(x))


def test_the_stages_chain_to_the_middles_output(trained_like):
    packed = PackedBNN(trained_like("bnn"))
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        c1 = packed.conv1_output(x)
        operands, _ = packed.fused_operands(c1.shape[2:])
        for parallel in (False, True):
            st = fused.stages(c1.numpy(), operands, parallel)
            assert np.array_equal(st["out"], packed.middle(c1).numpy())
            assert st["conv2_thresholds"]().dtype == np.uint64 and st["conv2"]().dtype == np.int32


def test_affine_terms_refuse_what_is_not_a_batch_norm():
    with pytest.raises(TypeError, match="BatchNorm1d or BatchNorm2d"):
        affine_terms(nn.LayerNorm(4), fma_beta=True)
    with pytest.raises(ValueError, match="running statistics"):
        affine_terms(nn.BatchNorm1d(4, track_running_stats=False), fma_beta=True)
