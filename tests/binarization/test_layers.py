"""Binarized layers and the section's network."""
import torch
import torch.nn.functional as F

from companion.binarization import (BinarizeConfig, BinaryConv2d, BinaryLinear, BinaryNet, binarize_weight,
                                    clip_latent_weights_, sign, train_binary)
from companion.binarization import report as pk
from companion.train import TrainConfig


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


def test_stochastic_training_is_reproducible_and_leaves_the_global_rng_alone():
    data = torch.utils.data.TensorDataset(torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,)))
    weights = []
    for _ in range(2):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = BinaryNet(BinarizeConfig("binaryconnect", stochastic=True), channels=(8, 8), hidden=16)
        state = torch.get_rng_state()
        train_binary(model, data, TrainConfig(epochs=1, lr=0.1, batch_size=32, seed=3), device="cpu")
        assert torch.equal(torch.get_rng_state(), state), "sampling used its own generators"
        assert model.conv2.generator is None  # detached after training (models deep-copy cleanly)
        weights.append(model.fc3.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
