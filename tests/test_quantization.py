"""companion.quantization: affine qparams, calibration, fake quantization, PTQ/QAT wrappers, k-means, PQ."""
import pytest
import torch
from torch import nn

from companion.models import ResNetSmall
from companion.quantization import (ActFakeQuant, QuantConfig, affine_qparams, calibrate_, calibrate_range,
                                    fake_quantize, fake_quantize_model, fake_quantize_tensor, fold_batchnorm,
                                    kmeans, pq_reconstruct, product_quantize, qparams, quantization_mse,
                                    quantize, share_model_weights_, share_weights)


@pytest.fixture
def x():
    return torch.randn(16, 50, generator=torch.Generator().manual_seed(0)) * 3 + 0.5


# ---------------------------------------------------------------- qparams by hand
def test_symmetric_qparams_by_hand():
    scale, zp = affine_qparams(torch.tensor(-1.0), torch.tensor(2.54), bits=8, symmetric=True)
    assert scale.item() == pytest.approx(2.54 / 127.5) and zp.item() == 0


def test_asymmetric_qparams_by_hand():
    # [-1, 3] on uint8: scale = 4 / 255, zero_point = 0 - round(-1 / scale) = round(63.75) = 64
    scale, zp = affine_qparams(torch.tensor(-1.0), torch.tensor(3.0), bits=8, symmetric=False)
    assert scale.item() == pytest.approx(4 / 255) and zp.item() == 64
    # 2 bits on [0, 1.5]: 4 levels 0, 0.5, 1, 1.5 -> scale 0.5, zero point 0
    scale, zp = affine_qparams(torch.tensor(0.0), torch.tensor(1.5), bits=2, symmetric=False)
    assert scale.item() == pytest.approx(0.5) and zp.item() == 0


def test_range_is_widened_to_contain_zero():
    scale, zp = affine_qparams(torch.tensor(2.0), torch.tensor(4.0), bits=8, symmetric=False)
    assert scale.item() == pytest.approx(4 / 255) and zp.item() == 0  # [0, 4], not [2, 4]


def test_integer_ranges():
    assert (QuantConfig(bits=8).qmin, QuantConfig(bits=8).qmax) == (-128, 127)
    assert (QuantConfig(bits=4, symmetric=False).qmin, QuantConfig(bits=4, symmetric=False).qmax) == (0, 15)
    assert (QuantConfig(bits=2).qmin, QuantConfig(bits=2).qmax) == (-2, 1)


@pytest.mark.parametrize("symmetric", [True, False])
def test_qparams_match_torch_minmax_observer(x, symmetric):
    from torch.ao.quantization.observer import MinMaxObserver
    obs = MinMaxObserver(dtype=torch.qint8 if symmetric else torch.quint8,
                         qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
    obs(x)
    ref_scale, ref_zp = obs.calculate_qparams()
    scale, zp = qparams(x, QuantConfig(bits=8, symmetric=symmetric))
    assert scale.item() == pytest.approx(ref_scale.item(), rel=1e-6) and zp.item() == ref_zp.item()


# ---------------------------------------------------------------- fake quantization against torch
@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_fake_quantize_per_tensor_matches_torch(x, bits, symmetric):
    cfg = QuantConfig(bits=bits, symmetric=symmetric)
    scale, zp = qparams(x, cfg)
    ref = torch.fake_quantize_per_tensor_affine(x, scale.item(), int(zp), cfg.qmin, cfg.qmax)
    assert torch.equal(fake_quantize_tensor(x, cfg), ref)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_fake_quantize_per_channel_matches_torch(x, bits, symmetric):
    cfg = QuantConfig(bits=bits, symmetric=symmetric, per_channel=True)
    scale, zp = qparams(x, cfg)
    assert scale.shape == (16,)
    ref = torch.fake_quantize_per_channel_affine(x, scale, zp, 0, cfg.qmin, cfg.qmax)
    assert torch.equal(fake_quantize_tensor(x, cfg), ref)


def test_ste_gradient_matches_torch(x):
    cfg = QuantConfig(bits=4, symmetric=False)
    scale, zp = qparams(x, cfg)
    scale = scale * 0.5  # clip part of the range so that some gradients are zero
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    fake_quantize(a, scale, zp, cfg.qmin, cfg.qmax).sum().backward()
    torch.fake_quantize_per_tensor_affine(b, scale.item(), int(zp), cfg.qmin, cfg.qmax).sum().backward()
    assert torch.equal(a.grad, b.grad)
    assert 0 < a.grad.sum() < a.numel()  # some pass through, some are clipped


def test_quantize_gives_integers_in_range(x):
    cfg = QuantConfig(bits=3, symmetric=False)
    scale, zp = qparams(x, cfg)
    q = quantize(x, scale, zp, cfg.qmin, cfg.qmax)
    assert q.dtype == torch.int64 and q.min() >= 0 and q.max() <= 7
    assert torch.allclose((q - zp) * scale, fake_quantize_tensor(x, cfg))


# ---------------------------------------------------------------- calibration
def test_calibration_ranges():
    x = torch.cat([torch.linspace(-1, 1, 10001), torch.tensor([50.0])])
    lo, hi = calibrate_range(x, QuantConfig(calibration="minmax"))
    assert (lo.item(), hi.item()) == (-1.0, 50.0)
    lo, hi = calibrate_range(x, QuantConfig(calibration="percentile", percentile=99.0))
    assert -1 < lo.item() < -0.97 and 0.97 < hi.item() < 1.0
    lo, hi = calibrate_range(x, QuantConfig(bits=4, calibration="mse"))
    assert hi.item() < 50.0  # the outlier is clipped


def test_mse_calibration_is_never_worse_than_minmax():
    w = torch.randn(5000, generator=torch.Generator().manual_seed(1))
    w[0] = 12.0
    for bits in (2, 4, 8):
        mse = quantization_mse(w, QuantConfig(bits=bits, calibration="mse"))
        assert mse <= quantization_mse(w, QuantConfig(bits=bits, calibration="minmax")) + 1e-12


def test_error_falls_with_bits(x):
    errors = [quantization_mse(x, QuantConfig(bits=b)) for b in (2, 4, 8)]
    assert errors[0] > errors[1] > errors[2] > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"bits": 0}, r"bits must be an integer in \[1, 16\], got 0"),
    ({"bits": 17}, r"bits must be an integer in \[1, 16\], got 17"),
    ({"calibration": "entropy"}, r"calibration must be one of .*'entropy'"),
    ({"percentile": 20.0}, r"percentile must be in \(50, 100\]"),
])
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QuantConfig(**kwargs)


def test_activation_quantizer_is_per_tensor():
    with pytest.raises(ValueError, match="activations are quantized per tensor"):
        ActFakeQuant(QuantConfig(per_channel=True))


# ---------------------------------------------------------------- model wrappers
def test_fold_batchnorm_keeps_outputs():
    torch.manual_seed(0)
    model = ResNetSmall(width=8)
    model.train()
    model(torch.randn(32, 1, 28, 28))  # give BN non-trivial running statistics
    model.eval()
    folded = fold_batchnorm(model)
    x = torch.randn(4, 1, 28, 28)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x), model(x), atol=1e-5)


def test_fake_quantized_model_at_8_bits_is_close_and_trains():
    torch.manual_seed(0)
    model = ResNetSmall(width=8).eval()
    x = torch.randn(64, 1, 28, 28)
    q = fake_quantize_model(model, QuantConfig(bits=8, per_channel=True), QuantConfig(bits=8, symmetric=False))
    calibrate_(q, [(x, torch.zeros(64))])
    ref = model(x)
    assert (q(x) - ref).abs().max() < 0.05 * ref.abs().max()
    q2 = fake_quantize_model(model, QuantConfig(bits=2), QuantConfig(bits=2, symmetric=False))
    calibrate_(q2, [(x, torch.zeros(64))])
    assert (q2(x) - ref).abs().mean() > (q(x) - ref).abs().mean()
    q(x).sum().backward()  # QAT: gradients reach the float weights through the STE
    assert q.fc.parametrizations.weight.original.grad.abs().sum() > 0


# ---------------------------------------------------------------- k-means and product quantization
def test_kmeans_finds_known_clusters():
    x = torch.tensor([[0.0], [0.1], [0.2], [5.0], [5.1], [9.9], [10.0], [10.1]])
    centroids, labels = kmeans(x, 3)
    assert torch.allclose(centroids.flatten(), torch.tensor([0.1, 5.05, 10.0]))
    assert labels.tolist() == [0, 0, 0, 1, 1, 2, 2, 2]


def test_kmeans_random_init_2d():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    centroids, labels = kmeans(x, 2, init="random")
    assert torch.allclose(centroids[centroids[:, 0].argsort()], centres, atol=0.1)
    assert len(set(labels[:50].tolist())) == 1 and len(set(labels[50:].tolist())) == 1


def test_kmeans_bad_arguments():
    with pytest.raises(ValueError, match="k <= N"):
        kmeans(torch.zeros(3, 1), 5)
    with pytest.raises(ValueError, match="init must be one of"):
        kmeans(torch.zeros(3, 1), 2, init="kmeans++")


def test_share_weights_keeps_zeros_and_uses_k_values():
    w = torch.randn(20, 30, generator=torch.Generator().manual_seed(0))
    w[w.abs() < 0.5] = 0
    codebook, indices = share_weights(w, 4)
    shared = torch.where(w != 0, codebook[indices], torch.zeros(()))
    assert len(codebook) == 4 and torch.equal(shared == 0, w == 0)
    assert len(torch.unique(shared[shared != 0])) <= 4


def test_centroid_gradient_is_the_sum_of_shared_gradients():
    model = nn.Sequential(nn.Linear(6, 3))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 1.1, 0.0, 5.0, 5.1, 0.9]] * 3))
    shared = share_model_weights_(model, 2)["0"]
    x = torch.randn(4, 6)
    model(x).sum().backward()
    # d/dw_ij of sum(x W^T) is sum_n x_nj; a centroid collects the weights that share it (zeros excluded)
    per_weight = x.sum(0).expand(3, 6) * (shared.mask)
    expected = torch.zeros(2).index_add_(0, shared.indices[shared.mask], per_weight[shared.mask])
    assert torch.allclose(shared.centroids.grad, expected, atol=1e-5)


def test_product_quantization_roundtrip_and_exactness():
    g = torch.Generator().manual_seed(0)
    protos = torch.randn(4, 3, generator=g)
    w = torch.cat([protos[torch.randint(0, 4, (10,), generator=g)] for _ in range(2)], dim=1)[:, :5]  # (10, 5)
    books, codes = product_quantize(w, sub_dim=3, clusters=4)
    assert books.shape == (2, 4, 3) and codes.shape == (10, 2)
    assert pq_reconstruct(books, codes, 5).shape == w.shape
    books, codes = product_quantize(w, sub_dim=3, clusters=10)  # one centroid per row: exact
    assert torch.allclose(pq_reconstruct(books, codes, 5), w)
