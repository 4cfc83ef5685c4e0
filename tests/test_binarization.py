"""Tests of companion.binarization (training side) and companion.bitpack (packed XNOR inference)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from companion import bitpack, packed as pk
from companion.binarization import (BinarizeConfig, BinaryConv2d, BinaryLinear, BinaryNet, SignSTE,
                                    binarize_weight, clip_latent_weights_, filter_scale, hard_sigmoid, input_scale,
                                    sign, ste_sign, stochastic_sign, ternarize, ternary_threshold, train_binary)
from companion.bitpack import (n_words, pack_bits, pack_conv_weight, pack_linear_weight, pack_pm1, pack_signs,
                               unpack_bits, unpack_pm1, xnor_conv2d, xnor_linear)
from companion.train import TrainConfig


def pm1(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, shape, generator=g).float() * 2 - 1


# ---------------------------------------------------------------- packing
@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 100, 130])
def test_pack_unpack_round_trip_any_length(n):
    rng = np.random.default_rng(n)
    bits = rng.integers(0, 2, size=(3, 2, n)).astype(bool)
    words = pack_bits(bits)
    assert words.dtype == np.uint64 and words.shape == (3, 2, n_words(n))
    np.testing.assert_array_equal(unpack_bits(words, n), bits)
    values = np.where(bits, -1.0, 1.0).astype(np.float32)
    np.testing.assert_array_equal(unpack_pm1(pack_pm1(values), n), values)
    if n % 64:  # padding bits stay zero
        assert np.all(words[..., -1] >> np.uint64(n % 64) == 0)


def test_pack_bit_order_by_hand():
    assert pack_bits([True, False, True]).tolist() == [5]
    assert pack_pm1(torch.tensor([-1.0, 1.0, -1.0, -1.0])).tolist() == [0b1101]
    words = pack_bits([False] * 64 + [True])
    assert words.tolist() == [0, 1]


def test_pack_signs_matches_sign_then_pack():
    x = torch.randn(4, 3, 130)
    x[0, 0, :5] = 0.0  # sign(0) = +1
    np.testing.assert_array_equal(pack_signs(x), pack_pm1(sign(x)))
    img = torch.randn(2, 70, 3, 5)
    img[0, :, 0, 0] = 0.0
    np.testing.assert_array_equal(bitpack.pack_signs_nchw(img), pack_pm1(sign(img).permute(0, 2, 3, 1)))
    with pytest.raises(ValueError, match="NCHW"):
        bitpack.pack_signs_nchw(torch.randn(3, 4))


def test_pack_pm1_rejects_other_values():
    with pytest.raises(ValueError, match=r"only -1 and \+1.*found 0.5"):
        pack_pm1(torch.tensor([1.0, 0.5, -1.0]))
    with pytest.raises(ValueError, match="only -1 and"):
        pack_pm1(np.zeros(3))
    with pytest.raises(ValueError, match="at least one element"):
        pack_bits(np.zeros((2, 0), bool))


# ---------------------------------------------------------------- kernels against float ±1 arithmetic
@pytest.mark.parametrize("n", [1, 64, 100, 130, 1024])
@pytest.mark.parametrize("batch", [1, 3])
def test_xnor_linear_equals_float_dot_product(n, batch):
    x, w = pm1(batch, n, seed=1), pm1(5, n, seed=2)
    out = xnor_linear(pack_pm1(x), pack_linear_weight(w), n)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, F.linear(x, w).numpy().astype(np.int32))
    real = torch.randn(batch, n)
    np.testing.assert_array_equal(bitpack.binary_linear(real, pack_linear_weight(w)), F.linear(sign(real), w).numpy())


def test_xnor_linear_many_outputs():
    x, w = pm1(2, 130, seed=9), pm1(1100, 130, seed=10)
    np.testing.assert_array_equal(xnor_linear(pack_pm1(x), pack_linear_weight(w), 130), F.linear(x, w).numpy())


@pytest.mark.parametrize("channels,stride,padding", [(3, 1, 1), (64, 1, 1), (70, 2, 1), (128, 1, 0), (5, 2, 2)])
def test_xnor_conv_equals_float_conv_with_zero_padding(channels, stride, padding):
    x, w = pm1(2, channels, 7, 9, seed=3), pm1(6, channels, 3, 3, seed=4)
    xp = pack_pm1(x.permute(0, 2, 3, 1))
    out = xnor_conv2d(xp, pack_conv_weight(w), channels, stride, padding)
    ref = F.conv2d(x, w, stride=stride, padding=padding)
    assert out.shape == tuple(ref.shape) and out.dtype == np.int32
    np.testing.assert_array_equal(out, ref.numpy().astype(np.int32))
    real = torch.randn(2, channels, 7, 9)  # fused path: signs of real inputs packed inside the kernel
    fused = bitpack.binary_conv2d(real, pack_conv_weight(w), stride, padding)
    assert fused.dtype == np.float32
    np.testing.assert_array_equal(fused, F.conv2d(sign(real), w, stride=stride, padding=padding).numpy())


def test_kernels_reject_shape_mismatch_and_bad_dtypes():
    xp, wp = pack_pm1(pm1(2, 100)), pack_linear_weight(pm1(3, 200))
    with pytest.raises(ValueError, match="shape mismatch"):
        xnor_linear(xp, wp, 100)
    with pytest.raises(ValueError, match="shape mismatch"):
        xnor_linear(xp, pack_linear_weight(pm1(3, 100)), 200)
    with pytest.raises(ValueError, match="uint64"):
        xnor_linear(xp.astype(np.int64), pack_linear_weight(pm1(3, 100)), 100)
    with pytest.raises(ValueError, match="4-d uint64"):
        xnor_conv2d(xp, pack_conv_weight(pm1(4, 100, 3, 3)), 100)
    xc = pack_pm1(pm1(1, 2, 2, 64))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        xnor_conv2d(xc, pack_conv_weight(pm1(4, 64, 3, 3)), 64)
    with pytest.raises(ValueError, match="shape mismatch"):
        xnor_conv2d(xc, pack_conv_weight(pm1(4, 128, 1, 1)), 64)
    with pytest.raises(ValueError, match="shape mismatch"):
        bitpack.binary_linear(torch.randn(2, 200), pack_linear_weight(pm1(3, 100)))
    with pytest.raises(ValueError, match="shape mismatch"):
        bitpack.binary_conv2d(torch.randn(1, 128, 5, 5), pack_conv_weight(pm1(4, 64, 3, 3)))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        xnor_conv2d(xc, pack_conv_weight(pm1(4, 64, 1, 1)), 64, stride=0)


# ---------------------------------------------------------------- estimators and quantizers
def test_sign_ste_forward_and_hardtanh_gradient():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    y = ste_sign(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1]
    g = torch.arange(1.0, 8.0)
    y.backward(g)
    assert x.grad.tolist() == [0, 2, 3, 4, 5, 6, 0]  # grad · 1_{|x| <= 1}
    assert SignSTE.apply(torch.tensor([0.0])).item() == 1.0


def test_stochastic_sign_probability_and_straight_through_gradient():
    assert hard_sigmoid(torch.tensor([-2.0, -1.0, 0.0, 0.5, 3.0])).tolist() == [0, 0, 0.5, 0.75, 1]
    w = torch.full((40000,), 0.5, requires_grad=True)
    wb = stochastic_sign(w, torch.Generator().manual_seed(0))
    assert set(wb.unique().tolist()) == {-1.0, 1.0}
    assert abs((wb > 0).float().mean().item() - 0.75) < 0.01
    wb.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_ternary_threshold_on_hand_made_tensor():
    w = torch.tensor([0.1, -0.2, 0.9, -1.3, 0.05, 0.6])
    delta, alpha = ternary_threshold(w, 0.7)
    assert delta.item() == pytest.approx(0.7 * 3.15 / 6)
    assert alpha.item() == pytest.approx((0.9 + 1.3 + 0.6) / 3)
    t, a = ternarize(w)
    assert t.tolist() == [0, 0, 1, -1, 0, 1]
    assert torch.equal(a, alpha)
    latent = torch.randn(1000, requires_grad=True)  # forward values exactly in {-1, 0, 1}; identity gradient
    t, _ = ternarize(latent)
    assert set(t.unique().tolist()) <= {-1.0, 0.0, 1.0}
    t.sum().backward()
    assert torch.equal(latent.grad, torch.ones(1000))


def test_xnor_scales_by_hand():
    w = torch.tensor([[1.0, -3.0], [0.5, 0.5]])
    assert filter_scale(w).flatten().tolist() == [2.0, 0.5]
    x = torch.tensor([[1.0, -3.0, 2.0], [0.0, 0.5, -0.5]])
    assert input_scale(x).flatten().tolist() == [2.0, pytest.approx(1 / 3)]
    k = input_scale(torch.ones(1, 4, 5, 5), 3, 1, 1)  # box filter with zero padding
    assert k.shape == (1, 1, 5, 5) and k[0, 0, 2, 2] == 1 and k[0, 0, 0, 0].item() == pytest.approx(4 / 9)


def test_binary_layers_compute_scaled_sign_products():
    torch.manual_seed(0)
    lin = BinaryLinear(10, 4, "scaled_sign", "scaled_sign")
    x = torch.randn(3, 10)
    alpha = lin.weight.abs().mean(1)
    expected = F.linear(sign(x), sign(lin.weight)) * alpha * x.abs().mean(1, keepdim=True)
    torch.testing.assert_close(lin(x), expected)
    conv = BinaryConv2d(3, 5, 3, 1, 1, "sign", "sign")
    xc = torch.randn(2, 3, 6, 6)
    assert torch.equal(conv(xc), F.conv2d(sign(xc), sign(conv.weight), padding=1))
    w, scale = binarize_weight(conv.weight, "float")
    assert w is conv.weight and scale is None


def test_config_validation():
    with pytest.raises(ValueError, match="method must be one of"):
        BinarizeConfig(method="xor")
    with pytest.raises(ValueError, match="stochastic binarization is BinaryConnect's"):
        BinarizeConfig(method="bnn", stochastic=True)
    with pytest.raises(ValueError, match=r"ternary_threshold must be in \(0, 1.5\), got 2.0"):
        BinarizeConfig(method="ternary", ternary_threshold=2.0)
    assert BinarizeConfig("binaryconnect", stochastic=True).weight_mode == "stochastic"


def test_training_clips_latent_weights_and_first_last_stay_float():
    torch.manual_seed(0)
    model = BinaryNet(BinarizeConfig("bnn"), channels=(8, 8), hidden=16)
    assert model.conv1.weight_mode == "float" and model.fc4.weight_mode == "float"
    assert model.conv2.weight_mode == "sign" and model.fc3.activation_mode == "sign"
    with torch.no_grad():
        model.conv2.weight.mul_(100)
    clip_latent_weights_(model)
    assert model.conv2.weight.abs().max() <= 1
    data = torch.utils.data.TensorDataset(torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,)))
    before = model.fc3.weight.detach().clone()
    history = train_binary(model, data, TrainConfig(epochs=1, lr=0.1, batch_size=32), device="cpu")
    assert len(history) == 1 and not torch.equal(before, model.fc3.weight)
    assert model.fc3.weight.abs().max() <= 1
    edge = BinaryNet(BinarizeConfig("bnn", binarize_first_last=True), channels=(8, 8), hidden=16)
    assert edge.conv1.weight_mode == "sign" and edge.conv1.activation_mode == "real"


# ---------------------------------------------------------------- converter and packed file
def _trained_like(method, **kw):
    torch.manual_seed(1)
    model = BinaryNet(BinarizeConfig(method, **kw), channels=(70, 66), hidden=64)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for bn in (model.bn1, model.bn2, model.bn3):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("method,kw", [("bnn", {}), ("xnor", {}), ("binaryconnect", {}), ("ternary", {}),
                                       ("bwn", {}), ("bnn", {"binarize_first_last": True})])
def test_packed_model_reproduces_binary_model_exactly(method, kw, tmp_path):
    model = _trained_like(method, **kw)
    packed = pk.to_packed(model)
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(packed(x), model(x))
    pk.save_packed(pk.to_packed(_trained_like("ternary")), tmp_path / "packed")  # stale files get replaced
    folder = pk.save_packed(packed, tmp_path / "packed")
    with torch.no_grad():
        assert torch.equal(pk.load_packed(folder)(x), model(x))
    expected = {f"{n}.{k}.npy" for n, m in pk.packed_layers(packed).items() for k in m.planes}
    expected |= {f"{k}.npy" for k in packed.state_dict()} | {"meta.json"}
    assert {p.name for p in folder.iterdir()} == expected


def test_packed_weights_are_about_32x_smaller(tmp_path):
    model = _trained_like("xnor")
    packed = pk.to_packed(model)
    assert packed.conv2.xnor and packed.fc3.xnor and not isinstance(packed.fc4, pk.PackedLayer)
    folder = pk.save_packed(packed, tmp_path / "p")
    fp32 = pk.save_arrays({"fc3.weight": model.fc3.weight}, tmp_path / "f")
    ratio = (fp32 / "fc3.weight.npy").stat().st_size / (folder / "fc3.sign.npy").stat().st_size
    assert 30 < ratio <= 32
    assert sorted(p.name for p in folder.glob("conv2.*")) == ["conv2.scale.npy", "conv2.sign.npy"]


def test_packed_integer_output_and_converter_errors(tmp_path):
    model = _trained_like("bnn")
    layer = pk.to_packed(model).conv2
    x = torch.randn(2, 70, 14, 14)
    ref = F.conv2d(sign(x), sign(model.conv2.weight), stride=2, padding=1)
    assert torch.equal(layer.integer_output(x).float(), ref)
    with pytest.raises(ValueError, match="no binarized layers"):
        pk.to_packed(torch.nn.Linear(3, 3))
    with pytest.raises(FileNotFoundError, match="meta.json"):
        pk.load_packed(tmp_path)
    with pytest.raises(TypeError, match="packed BinaryNet"):
        pk.save_packed(torch.nn.Linear(2, 2), tmp_path / "x")


def test_mac_split_and_float_twin():
    from companion.binarization import mac_split
    from companion.measure import count_macs
    model = BinaryNet(BinarizeConfig("bnn"), channels=(64, 64), hidden=256)
    x = torch.zeros(1, 1, 28, 28)
    split = mac_split(model, x)
    assert split["binary"] == 64 * 7 * 7 * 64 * 9 + 3136 * 256  # conv2 + fc3 by hand
    assert split["binary"] + split["full_precision"] == count_macs(model, x)
    twin = pk.float_twin(model.conv2)
    assert isinstance(twin, torch.nn.Conv2d) and torch.equal(twin.weight, model.conv2.weight)
    assert twin.stride == (2, 2) and twin.bias is None


def test_stage_latency_splits_the_packed_layers():
    packed = pk.to_packed(_trained_like("xnor"))
    rows = pk.stage_latency(packed, torch.randn(1, 1, 28, 28), min_run_time=0.001)
    stages = [(r["module"], r["stage"]) for r in rows]
    assert ("fc3", "xnor-popcount kernel") in stages and ("conv2", "pack signs") in stages
    assert ("conv1", "BinaryConv2d") in stages and sum(s[0] == "act" for s in stages) == 3
    assert all(r["ms"] >= 0 for r in rows)
    before = torch.get_num_threads()
    with pk.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
